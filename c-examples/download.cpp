// download: the C example (download.c) again in C++11, with a small RAII layer over
// resumedl.h that a C++ program could lift as it is:
//
//   rdl::Options   owns one rdl_options (unique: not copyable, movable); its setters
//                  return *this and throw rdl::Error on failure
//   rdl::Error     a std::runtime_error carrying the RDL_ERR_* code and the message
//
//   download URL OUTPUT [--no-resume] [--retries N] [--sha256 HEX] [--cacert FILE]
//                       [-H 'Name: value']...
//
// Same command line, output and exit codes as download.c: progress on stderr, on success
// "kind=... resumed_from=N received=N total=N attempts=N status=N" on stdout, on failure
// "download: <code name>: <message>" on stderr and the RDL_ERR_* code as exit status (64 for
// a usage error). RDL_EXAMPLE_ABORT_AT=N cancels from the progress callback at N bytes.

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "resumedl.h"

namespace rdl {

// A failed rdl_* call: code() is the RDL_ERR_* value, what() the library's message.
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}

    int code() const noexcept { return code_; }

    // E.g. "RDL_ERR_HTTP_STATUS". A static string.
    const char *code_name() const noexcept { return rdl_code_name(code_); }

private:
    int code_;
};

// Throws for a failed call. The message is copied at once: it is only valid until the next
// rdl_* call on this thread (rdl_options_free in a destructor is one).
inline void check(int rc)
{
    if (rc != RDL_OK) {
        throw Error(rc, rdl_last_error_message());
    }
}

// Progress function: (downloaded, total) where total is RDL_UNKNOWN when unknown; return
// true to cancel the download.
using Progress = std::function<bool(std::uint64_t downloaded, std::uint64_t total)>;

namespace detail {

// Lives on the heap so the pointer handed to the library survives moves of Options.
struct ProgressState {
    Progress fn;
    // An exception from fn: C++ exceptions must not unwind through the library, so the
    // trampoline parks it here, cancels, and Options::download rethrows it.
    std::exception_ptr error;
};

}  // namespace detail
}  // namespace rdl

// The library calls a C function; give it C language linkage to match rdl_progress_callback.
extern "C" {
static int rdl_cpp_progress_trampoline(void *userdata, uint64_t downloaded, uint64_t total)
{
    rdl::detail::ProgressState *state = static_cast<rdl::detail::ProgressState *>(userdata);
    try {
        return state->fn(downloaded, total) ? 1 : 0;
    } catch (...) {
        state->error = std::current_exception();
        return 1;
    }
}
}

namespace rdl {

// Owns one rdl_options. Not copyable (two owners would free it twice); movable, and a
// moved-from Options holds NULL, which every setter rejects with RDL_ERR_INVALID_ARG.
class Options {
public:
    Options() : opts_(rdl_options_new())
    {
        if (opts_ == nullptr) {
            throw Error(RDL_ERR_PANIC, "rdl_options_new failed");
        }
    }

    ~Options() { rdl_options_free(opts_); }

    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;

    Options(Options &&other) noexcept
        : opts_(other.opts_), progress_(std::move(other.progress_))
    {
        other.opts_ = nullptr;
    }

    Options &operator=(Options &&other) noexcept
    {
        if (this != &other) {
            rdl_options_free(opts_);
            opts_ = other.opts_;
            other.opts_ = nullptr;
            progress_ = std::move(other.progress_);
        }
        return *this;
    }

    Options &header(const std::string &name, const std::string &value)
    {
        check(rdl_options_add_header(opts_, name.c_str(), value.c_str()));
        return *this;
    }

    Options &resume(bool on)
    {
        check(rdl_options_set_resume(opts_, on ? 1 : 0));
        return *this;
    }

    Options &retries(std::uint32_t n)
    {
        check(rdl_options_set_retries(opts_, n));
        return *this;
    }

    Options &sha256(const std::string &hex)
    {
        check(rdl_options_set_sha256(opts_, hex.c_str()));
        return *this;
    }

    Options &ca_file(const std::string &path)
    {
        check(rdl_options_set_ca_file(opts_, path.c_str()));
        return *this;
    }

    Options &progress(Progress fn)
    {
        std::unique_ptr<detail::ProgressState> state(new detail::ProgressState());
        state->fn = std::move(fn);
        check(rdl_options_set_progress(opts_, rdl_cpp_progress_trampoline, state.get()));
        progress_ = std::move(state);
        return *this;
    }

    // Downloads url to path with these options; throws Error, or what the progress
    // function threw.
    rdl_outcome download(const std::string &url, const std::string &path) const
    {
        if (progress_) {
            progress_->error = nullptr;
        }
        rdl_outcome out = rdl_outcome();
        out.size = sizeof out;  // the struct may grow: the library fills what fits
        int rc = rdl_download(url.c_str(), path.c_str(), opts_, &out);
        std::string message = rc == RDL_OK ? std::string() : rdl_last_error_message();
        if (progress_ && progress_->error) {
            std::rethrow_exception(progress_->error);
        }
        if (rc != RDL_OK) {
            throw Error(rc, message);
        }
        return out;
    }

    const rdl_options *get() const noexcept { return opts_; }

private:
    rdl_options *opts_;
    std::unique_ptr<detail::ProgressState> progress_;
};

}  // namespace rdl

namespace {

const int EXIT_USAGE = 64;

const char USAGE[] =
    "usage: download URL OUTPUT [--no-resume] [--retries N] [--sha256 HEX]\n"
    "                           [--cacert FILE] [-H 'Name: value']...\n";

struct UsageError : std::runtime_error {
    explicit UsageError(const std::string &why) : std::runtime_error(why) {}
};

// Whole decimal number, nothing else.
bool parse_u64(const char *s, std::uint64_t &out)
{
    if (*s < '0' || *s > '9') {
        return false;
    }
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    out = static_cast<std::uint64_t>(v);
    return true;
}

const char *kind_name(int kind)
{
    switch (kind) {
    case RDL_KIND_FRESH:
        return "fresh";
    case RDL_KIND_RESUMED:
        return "resumed";
    case RDL_KIND_RESTARTED:
        return "restarted";
    case RDL_KIND_ALREADY_COMPLETE:
        return "already_complete";
    default:
        return "unknown";
    }
}

struct Args {
    std::string url;
    std::string output;
    bool help = false;
};

// Applies the command line to opts; throws UsageError or rdl::Error.
Args parse_args(int argc, char **argv, rdl::Options &opts)
{
    Args args;
    int positional = 0;
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (only_positional || a.size() < 2 || a[0] != '-') {
            if (positional == 0) {
                args.url = a;
            } else if (positional == 1) {
                args.output = a;
            } else {
                throw UsageError("too many arguments");
            }
            positional++;
            continue;
        }
        if (a == "--") {
            only_positional = true;
            continue;
        }
        if (a == "--no-resume") {
            opts.resume(false);
            continue;
        }
        if (a == "-h" || a == "--help") {
            args.help = true;
            return args;
        }
        if (i + 1 >= argc) {
            throw UsageError("unknown option or missing value");
        }
        const char *next = argv[++i];
        if (a == "--retries") {
            std::uint64_t n = 0;
            if (!parse_u64(next, n) || n > UINT32_MAX) {
                throw UsageError("--retries needs a whole number");
            }
            opts.retries(static_cast<std::uint32_t>(n));
        } else if (a == "--sha256") {
            opts.sha256(next);
        } else if (a == "--cacert") {
            opts.ca_file(next);
        } else if (a == "-H" || a == "--header") {
            const std::string line = next;
            const std::string::size_type colon = line.find(':');
            if (colon == std::string::npos || colon == 0) {
                throw UsageError("a header looks like 'Name: value'");
            }
            const std::string::size_type value = line.find_first_not_of(" \t", colon + 1);
            opts.header(line.substr(0, colon),
                        value == std::string::npos ? std::string() : line.substr(value));
        } else {
            throw UsageError("unknown option");
        }
    }
    if (positional != 2) {
        throw UsageError("URL and OUTPUT are required");
    }
    return args;
}

}  // namespace

int main(int argc, char **argv)
{
    bool abort_enabled = false;
    std::uint64_t abort_at = 0;
    if (const char *env = std::getenv("RDL_EXAMPLE_ABORT_AT")) {
        if (!parse_u64(env, abort_at)) {
            std::cerr << "download: RDL_EXAMPLE_ABORT_AT needs a whole number\n" << USAGE;
            return EXIT_USAGE;
        }
        abort_enabled = true;
    }

    bool drawn = false;
    try {
        rdl::Options opts;
        const Args args = parse_args(argc, argv, opts);
        if (args.help) {
            std::cout << USAGE;
            return 0;
        }
        opts.progress([&](std::uint64_t downloaded, std::uint64_t total) {
            std::cerr << "\r  " << downloaded;
            if (total != RDL_UNKNOWN) {
                std::cerr << " / " << total;
            }
            std::cerr << " bytes" << std::flush;
            drawn = true;
            return abort_enabled && downloaded >= abort_at;
        });
        const rdl_outcome out = opts.download(args.url, args.output);
        if (drawn) {
            std::cerr << '\n';
        }
        std::cout << "kind=" << kind_name(out.kind) << " resumed_from=" << out.resumed_from
                  << " received=" << out.received << " total=";
        if (out.total == RDL_UNKNOWN) {
            std::cout << "unknown";
        } else {
            std::cout << out.total;
        }
        std::cout << " attempts=" << out.attempts << " status=" << out.status << '\n';
        return 0;
    } catch (const UsageError &e) {
        std::cerr << "download: " << e.what() << '\n' << USAGE;
        return EXIT_USAGE;
    } catch (const rdl::Error &e) {
        if (drawn) {
            std::cerr << '\n';
        }
        std::cerr << "download: " << e.code_name() << ": " << e.what() << '\n';
        return e.code();
    }
}
