//! Real servers from Debian packages, started by the tests on loopback: nginx (plain and
//! TLS), Apache httpd, `python3 -m http.server`, the proxies tinyproxy, squid and Dante
//! (SOCKS), plus a test CA and other certificates made with openssl.
//!
//! Every server runs as a child process with a config written into its own temp dir: pid,
//! logs and temp paths all live there, so no system service, `/etc` config or default
//! pid/log path is touched. Each binds an ephemeral port on 127.0.0.1 and is killed on
//! drop. When a binary is missing the constructor returns `None` after printing a loud
//! skip message that names the Debian package to install.

use std::fs::{self, File};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::scratch::Scratch;

/// How long a server gets to accept connections after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a port is tried again when the server lost a race for it.
const PORT_ATTEMPTS: u32 = 5;
/// How long a test waits for a server to write its access log line. Servers log after the
/// last body byte is sent, so the client can be done a moment before the line appears.
const LOG_WAIT: Duration = Duration::from_secs(5);

const APACHE_BIN: &str = "/usr/sbin/apache2";
const APACHE_MODULES: &str = "/usr/lib/apache2/modules";

/// The loud skip of [`super::skip`] for a server or tool that is not installed, naming the
/// Debian package that brings it.
pub fn skip(what: &str, package: &str) {
    super::skip(&format!("{what} not installed: apt-get install {package}"));
}

/// Looks a program up like a shell: absolute candidates as they are, bare names in PATH.
pub fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p.to_path_buf());
            }
            continue;
        }
        let path = std::env::var_os("PATH")?;
        for dir in std::env::split_paths(&path) {
            let full = dir.join(c);
            if full.is_file() {
                return Some(full);
            }
        }
    }
    None
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A port for a server that must be told its port (nginx, Apache and tinyproxy cannot bind
/// port 0 and say which one they got): free a moment ago, and handed to no other server of
/// this process. Racy on its own: between the release here and the server's bind, a test
/// server binding port 0 or another process may take it. Safe enough because its only
/// caller, `spawn_listening`, checks that the child itself owns the listener and tries
/// another port when it does not. Nothing else should use it; a port where nothing must
/// listen is `support::ClosedPort`, which holds its port.
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
    panic!("no fresh ephemeral port after 100 binds");
}

/// Spawns `make(port)` until one of them accepts connections on its port.
fn spawn_listening(
    name: &str,
    dir: &Scratch,
    mut make: impl FnMut(u16) -> Command,
) -> (Child, u16) {
    let mut last_output = String::new();
    for attempt in 0..PORT_ATTEMPTS {
        let port = free_port();
        let out = dir.join(&format!("{name}.out"));
        let stdout = File::create(&out).expect("create server output file");
        let stderr = stdout.try_clone().expect("clone file handle");
        let mut cmd = make(port);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        if wait_listening(&mut child, port) {
            return (child, port);
        }
        kill_group(&mut child);
        last_output = fs::read_to_string(&out).unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "{name} did not come up on port {port} (attempt {}), retrying",
            attempt + 1
        );
    }
    panic!("{name} did not start on 127.0.0.1 after {PORT_ATTEMPTS} attempts; its output:\n{last_output}");
}

/// True once `child` itself listens on `port`; false when the child exits first (a lost
/// port race, a config error) or the start timeout passes. A successful connect alone is
/// not proof: another test's server may own the port while ours is failing to bind it.
fn wait_listening(child: &mut Child, port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        match owns_listener(child.id(), port) {
            Some(true) => return true,
            Some(false) => {}
            // No /proc: fall back to "something answers and our child still runs".
            None => {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    std::thread::sleep(Duration::from_millis(200));
                    return matches!(child.try_wait(), Ok(None));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port`, from /proc
/// (`None` when /proc cannot tell).
fn owns_listener(pid: u32, port: u16) -> Option<bool> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    // Columns: sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode.
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    if inodes.is_empty() {
        return Some(false);
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.filter_map(Result::ok).any(|fd| {
        fs::read_link(fd.path())
            .map(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
            .unwrap_or(false)
    }))
}

/// Kills `child` and, when it was spawned as the leader of its own process group
/// (`process_group(0)`), every helper it forked: squid's auth helpers and Dante's
/// children would outlive a kill of the parent alone.
fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals that process group; for a child that
    // leads no group of its own it fails with ESRCH and does nothing. The group still
    // exists here: the leader is not reaped before `wait` below.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Which server software serves the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Nginx,
    Apache,
    Python,
}

impl Flavor {
    /// Whether the server answers `Range` with 206 (python's http.server does not).
    pub fn supports_range(self) -> bool {
        self != Flavor::Python
    }
}

/// One request line from a server's access log, parsed into the same shape for every server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `Range` as received; `None` when absent or when the server cannot log it (python).
    pub range: Option<String>,
    /// `If-Range` as received; `None` when absent or not loggable.
    pub if_range: Option<String>,
}

/// nginx and Apache log this shape: `METHOD PATH|STATUS|RANGE|IF-RANGE|BODY-BYTES`.
fn parse_pipe_line(line: &str) -> Option<Logged> {
    let mut parts = line.split('|');
    let (method, path) = parts.next()?.split_once(' ')?;
    let status = parts.next()?.trim().parse().ok()?;
    let range = logged_header(parts.next());
    let if_range = logged_header(parts.next());
    Some(Logged {
        method: method.to_string(),
        path: path.to_string(),
        status,
        range,
        if_range,
    })
}

/// A header value from a log line; servers write `-` for an absent header.
fn logged_header(field: Option<&str>) -> Option<String> {
    let v = field?.trim();
    (!v.is_empty() && v != "-").then(|| unescape_log(v))
}

/// Undoes log escaping: nginx writes `"` as `\x22`, Apache as `\"`.
fn unescape_log(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            if b[i + 1] == b'x' && i + 3 < b.len() {
                if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
            out.push(b[i + 1]);
            i += 2;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// python's http.server logs `127.0.0.1 - - [date] "GET /f HTTP/1.1" 200 -` on stderr.
fn parse_python_line(line: &str) -> Option<Logged> {
    let start = line.find("] \"")? + 3;
    let rest = &line[start..];
    let end = rest.find('"')?;
    let mut req = rest[..end].split(' ');
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(Logged {
        method,
        path,
        status,
        range: None,
        if_range: None,
    })
}

/// A file server (nginx, Apache or python) running on 127.0.0.1.
pub struct Served {
    child: Child,
    port: u16,
    flavor: Flavor,
    tls: bool,
    docroot: PathBuf,
    log: PathBuf,
    dir: Scratch,
}

impl Served {
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, name: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{name}", self.port)
    }

    pub fn docroot(&self) -> &Path {
        &self.docroot
    }

    /// A scratch dir for the test's output files, removed with the server.
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.join("out");
        fs::create_dir_all(&p).expect("create scratch dir");
        p
    }

    /// Writes `body` to the docroot with a modification time that no earlier `put` had, so
    /// ETag and Last-Modified change even when the size does not.
    pub fn put(&self, name: &str, body: &[u8]) {
        static PUTS: AtomicU64 = AtomicU64::new(0);
        let n = PUTS.fetch_add(1, Ordering::SeqCst);
        let mtime = UNIX_EPOCH + Duration::from_secs(1_600_000_000 + n * 100);
        let path = self.docroot.join(name);
        // Write aside and rename: a server never sees a half-written file.
        let tmp = self.docroot.join(format!(".{name}.tmp"));
        fs::write(&tmp, body).expect("write docroot file");
        set_mode(&tmp, 0o644);
        File::options()
            .write(true)
            .open(&tmp)
            .and_then(|f| f.set_modified(mtime))
            .expect("set mtime");
        fs::rename(&tmp, &path).expect("rename docroot file");
    }

    /// Requests the server logged so far.
    pub fn requests(&self) -> Vec<Logged> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let parse = match self.flavor {
            Flavor::Python => parse_python_line,
            Flavor::Nginx | Flavor::Apache => parse_pipe_line,
        };
        text.lines().filter_map(parse).collect()
    }

    /// Requests logged, after waiting (bounded) until there are at least `n`.
    pub fn wait_requests(&self, n: usize) -> Vec<Logged> {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `ETag` the server sends for `name` now (a HEAD over plain HTTP; adds a log line).
    pub fn etag(&self, name: &str) -> Option<String> {
        use std::io::Read;
        assert!(!self.tls, "etag() speaks plain HTTP");
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(LOG_WAIT)).expect("set timeout");
        write!(
            s,
            "HEAD /{name} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .expect("send HEAD");
        let mut head = String::new();
        s.read_to_string(&mut head).expect("read HEAD answer");
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("etag"))
            .map(|(_, v)| v.trim().to_string())
    }

    /// The raw access log, for failure messages.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx options beyond plain HTTP.
#[derive(Default)]
pub struct NginxOptions<'a> {
    /// Serve HTTPS with this CA's server certificate (valid for 127.0.0.1 and localhost).
    pub tls: Option<&'a TestCa>,
    /// Serve HTTPS with this certificate instead (self-signed, expired, another CA's leaf).
    pub cert: Option<&'a ServerCert>,
    /// `limit_rate` per connection, in nginx syntax ("1m", "500k").
    pub limit_rate: Option<&'a str>,
    /// More directives for the `server` block (e.g. "etag off;").
    pub extra: Option<&'a str>,
}

/// nginx serving a fresh docroot over plain HTTP.
pub fn nginx() -> Option<Served> {
    nginx_with(&NginxOptions::default())
}

/// nginx serving HTTPS with `ca`'s server certificate.
pub fn nginx_tls(ca: &TestCa) -> Option<Served> {
    nginx_with(&NginxOptions {
        tls: Some(ca),
        ..NginxOptions::default()
    })
}

pub fn nginx_with(o: &NginxOptions) -> Option<Served> {
    let Some(bin) = find_program(&["/usr/sbin/nginx", "nginx"]) else {
        skip("nginx", "nginx");
        return None;
    };
    let dir = Scratch::new("nginx");
    let docroot = dir.join("www");
    fs::create_dir_all(&docroot).expect("create docroot");
    let d = dir.path().display().to_string();
    let log = dir.join("access.log");
    let pair = match (o.cert, o.tls) {
        (Some(c), _) => Some((&c.cert, &c.key)),
        (None, Some(ca)) => Some((&ca.server_cert, &ca.server_key)),
        (None, None) => None,
    };
    let tls = match pair {
        Some((cert, key)) => format!(
            "ssl_certificate {};\n    ssl_certificate_key {};",
            cert.display(),
            key.display()
        ),
        None => String::new(),
    };
    let limit = o
        .limit_rate
        .map(|r| format!("limit_rate {r};"))
        .unwrap_or_default();
    let ssl = if pair.is_some() { " ssl" } else { "" };
    let extra = o.extra.unwrap_or_default();
    let (child, port) = spawn_listening("nginx", &dir, |port| {
        // master_process off: one process that the test can kill, running as the test's
        // user (no worker privilege drop). Every path nginx would default to is set here.
        let conf = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format rdl '$request_method $uri|$status|$http_range|$http_if_range|$body_bytes_sent';
    access_log {d}/access.log rdl;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    server {{
    listen 127.0.0.1:{port}{ssl};
    {tls}
    {limit}
    {extra}
    root {d}/www;
    }}
}}
"
        );
        fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        let mut cmd = Command::new(&bin);
        // -e: the error log before the config is read (the built-in default is outside).
        cmd.arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.join("nginx.conf"));
        cmd
    });
    Some(Served {
        child,
        port,
        flavor: Flavor::Nginx,
        tls: pair.is_some(),
        docroot,
        log,
        dir,
    })
}

/// Apache httpd (Debian's `/usr/sbin/apache2`) in one foreground process (`-X`) with a
/// minimal config: the event MPM, authz_core, dir and mime modules.
pub fn apache() -> Option<Served> {
    let bin = Path::new(APACHE_BIN);
    let modules = Path::new(APACHE_MODULES);
    if !bin.is_file() || !modules.join("mod_mpm_event.so").is_file() {
        skip("apache2 (/usr/sbin/apache2)", "apache2");
        return None;
    }
    let dir = Scratch::new("apache");
    let docroot = dir.join("www");
    fs::create_dir_all(&docroot).expect("create docroot");
    set_mode(&docroot, 0o755);
    fs::write(dir.join("mime.types"), "").expect("write mime.types");
    let d = dir.path().display().to_string();
    let m = modules.display().to_string();
    let log = dir.join("access.log");
    let (child, port) = spawn_listening("apache2", &dir, |port| {
        // As root Apache refuses to serve as root and switches to User/Group: uid/gid 65534
        // (nobody/nogroup), which is why the temp dir is world-readable.
        let conf = format!(
            "ServerRoot \"{d}\"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule dir_module {m}/mod_dir.so
LoadModule mime_module {m}/mod_mime.so
TypesConfig \"{d}/mime.types\"
User #65534
Group #65534
DefaultRuntimeDir \"{d}\"
PidFile \"{d}/httpd.pid\"
ErrorLog \"{d}/error.log\"
LogLevel info
LogFormat \"%m %U|%>s|%{{Range}}i|%{{If-Range}}i|%B\" rdl
CustomLog \"{d}/access.log\" rdl
DocumentRoot \"{d}/www\"
<Directory \"{d}/www\">
    Require all granted
</Directory>
"
        );
        fs::write(dir.join("httpd.conf"), conf).expect("write httpd.conf");
        let mut cmd = Command::new(bin);
        cmd.arg("-X").arg("-f").arg(dir.join("httpd.conf"));
        cmd
    });
    Some(Served {
        child,
        port,
        flavor: Flavor::Apache,
        tls: false,
        docroot,
        log,
        dir,
    })
}

/// `python3 -m http.server`, which ignores `Range` and always answers 200.
pub fn python_http() -> Option<Served> {
    let Some(bin) = python3() else {
        skip("python3", "python3");
        return None;
    };
    let dir = Scratch::new("pyhttp");
    let docroot = dir.join("www");
    fs::create_dir_all(&docroot).expect("create docroot");
    let (child, port) = spawn_listening("python-http", &dir, |port| {
        let mut cmd = Command::new(&bin);
        // -u: the request log (stderr) reaches the file line by line.
        cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(&docroot);
        cmd
    });
    let log = dir.join("python-http.out");
    Some(Served {
        child,
        port,
        flavor: Flavor::Python,
        tls: false,
        docroot,
        log,
        dir,
    })
}

/// The real python3 interpreter: pyenv-style shims are scripts, and killing a shim's pid
/// would leave the server running.
fn python3() -> Option<PathBuf> {
    let shim = find_program(&["python3"])?;
    let out = Command::new(&shim)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let exe = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Some(if out.status.success() && exe.is_file() {
        exe
    } else {
        shim
    })
}

/// tinyproxy on 127.0.0.1, allowing CONNECT to any port (https origins on test ports).
pub struct TinyProxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: Scratch,
}

impl TinyProxy {
    pub fn start() -> Option<TinyProxy> {
        let Some(bin) = find_program(&["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy", "tinyproxy"])
        else {
            skip("tinyproxy", "tinyproxy");
            return None;
        };
        let dir = Scratch::new("tinyproxy");
        let d = dir.path().display().to_string();
        let (child, port) = spawn_listening("tinyproxy", &dir, |port| {
            // No ConnectPort line: tinyproxy then allows CONNECT to every port.
            // LogLevel Connect logs each request line, which the tests look for.
            let conf = format!(
                "Port {port}
Listen 127.0.0.1
Timeout 30
PidFile \"{d}/tinyproxy.pid\"
LogFile \"{d}/tinyproxy.log\"
LogLevel Connect
MaxClients 50
Allow 127.0.0.1
DisableViaHeader Yes
"
            );
            fs::write(dir.join("tinyproxy.conf"), conf).expect("write tinyproxy.conf");
            let mut cmd = Command::new(&bin);
            cmd.arg("-d").arg("-c").arg(dir.join("tinyproxy.conf"));
            cmd
        });
        let log = dir.join("tinyproxy.log");
        Some(TinyProxy {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Request lines the proxy handled (`CONNECT 127.0.0.1:8080 HTTP/1.1`, `GET http://…`).
    pub fn requests(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter_map(|l| l.split_once("]: Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): ").map(|(_, r)| r.to_string()))
            .collect()
    }

    /// Request lines that went to `127.0.0.1:port`, tunnelled or forwarded.
    pub fn requests_to(&self, port: u16) -> Vec<String> {
        let target = format!("127.0.0.1:{port}");
        self.requests()
            .into_iter()
            .filter(|r| r.contains(&target))
            .collect()
    }
}

impl Drop for TinyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where squid's basic-auth helper lives on Debian.
const SQUID_NCSA_AUTH: &str = "/usr/lib/squid/basic_ncsa_auth";

/// squid options beyond Debian's defaults.
#[derive(Default)]
pub struct SquidOptions<'a> {
    /// Require proxy authentication (Basic) with this user and password.
    pub basic_auth: Option<(&'a str, &'a str)>,
}

/// One line of squid's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquidLogged {
    /// `GET`, `HEAD`, `CONNECT`.
    pub method: String,
    /// `http://127.0.0.1:8080/f.bin`, or `127.0.0.1:8443` for CONNECT.
    pub url: String,
    /// The status squid answered (403 for a denied CONNECT, 407 without credentials).
    pub status: u16,
}

/// squid on 127.0.0.1 with the access rules of Debian's default squid.conf: CONNECT only
/// to port 443, plain requests to the "safe" ports (80, 1025-65535…), clients on localhost
/// allowed. Nothing is cached (`cache deny all`), logs go to its temp dir.
pub struct Squid {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: Scratch,
}

impl Squid {
    pub fn start() -> Option<Squid> {
        Squid::start_with(&SquidOptions::default())
    }

    pub fn start_with(o: &SquidOptions) -> Option<Squid> {
        let Some(bin) = find_program(&["/usr/sbin/squid", "squid"]) else {
            skip("squid", "squid");
            return None;
        };
        let dir = Scratch::new("squid");
        // Started as root, squid writes its logs as the user `proxy`.
        set_mode(dir.path(), 0o777);
        let d = dir.path().display().to_string();
        let auth = match o.basic_auth {
            Some((user, password)) => {
                if !Path::new(SQUID_NCSA_AUTH).is_file() {
                    skip(SQUID_NCSA_AUTH, "squid");
                    return None;
                }
                let openssl = openssl()?;
                let out = Command::new(openssl)
                    .args(["passwd", "-apr1", password])
                    .stdin(Stdio::null())
                    .output()
                    .expect("run openssl passwd");
                assert_ok("openssl", &["passwd"], &out);
                let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
                fs::write(dir.join("passwd"), format!("{user}:{hash}\n")).expect("write passwd");
                set_mode(&dir.join("passwd"), 0o644);
                format!(
                    "auth_param basic program {SQUID_NCSA_AUTH} {d}/passwd
auth_param basic children 1 startup=1 idle=1
auth_param basic realm resumedl-test
acl authenticated proxy_auth REQUIRED
http_access deny !authenticated
"
                )
            }
            None => String::new(),
        };
        let (child, port) = spawn_listening("squid", &dir, |port| {
            // The ACLs and http_access lines are Debian's squid.conf as shipped (its
            // conf.d include is where the auth rule goes).
            let conf = format!(
                "http_port 127.0.0.1:{port}
acl localnet src 0.0.0.1-0.255.255.255
acl localnet src 10.0.0.0/8
acl localnet src 100.64.0.0/10
acl localnet src 169.254.0.0/16
acl localnet src 172.16.0.0/12
acl localnet src 192.168.0.0/16
acl localnet src fc00::/7
acl localnet src fe80::/10
acl SSL_ports port 443
acl Safe_ports port 80
acl Safe_ports port 21
acl Safe_ports port 443
acl Safe_ports port 70
acl Safe_ports port 210
acl Safe_ports port 1025-65535
acl Safe_ports port 280
acl Safe_ports port 488
acl Safe_ports port 591
acl Safe_ports port 777
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localhost manager
http_access deny manager
{auth}http_access allow localhost
http_access deny all
cache deny all
access_log stdio:{d}/access.log
cache_log {d}/cache.log
cache_store_log none
pid_filename {d}/squid.pid
coredump_dir {d}
netdb_filename none
pinger_enable off
logfile_rotate 0
shutdown_lifetime 0 seconds
"
            );
            fs::write(dir.join("squid.conf"), conf).expect("write squid.conf");
            let mut cmd = Command::new(&bin);
            // -N: no daemon, one process; its own process group for the auth helpers.
            cmd.arg("-N").arg("-f").arg(dir.join("squid.conf"));
            cmd.process_group(0);
            cmd
        });
        Some(Squid {
            child,
            port,
            log: dir.join("access.log"),
            _dir: dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The proxy URL with credentials in it.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Requests squid logged so far.
    pub fn requests(&self) -> Vec<SquidLogged> {
        // time elapsed client code/status bytes method url user hierarchy type
        self.log_text()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let status = f.get(3)?.split_once('/')?.1.parse().ok()?;
                Some(SquidLogged {
                    method: f.get(5)?.to_string(),
                    url: f.get(6)?.to_string(),
                    status,
                })
            })
            .collect()
    }

    /// Requests logged, after waiting (bounded) until there are at least `n`.
    pub fn wait_requests(&self, n: usize) -> Vec<SquidLogged> {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Dante (`danted`), a SOCKS 4 and 5 server, on 127.0.0.1 without authentication.
/// (It does not speak SOCKS4a.)
pub struct Dante {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: Scratch,
}

impl Dante {
    pub fn start() -> Option<Dante> {
        let Some(bin) = find_program(&["/usr/sbin/danted", "danted"]) else {
            skip("danted", "dante-server");
            return None;
        };
        let dir = Scratch::new("dante");
        // Its children run as `nobody` and append to the log.
        set_mode(dir.path(), 0o777);
        let d = dir.path().display().to_string();
        let (child, port) = spawn_listening("danted", &dir, |port| {
            let conf = format!(
                "logoutput: {d}/danted.log
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    log: error connect
}}
socks pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    command: connect
    log: error connect
}}
"
            );
            fs::write(dir.join("danted.conf"), conf).expect("write danted.conf");
            let mut cmd = Command::new(&bin);
            // Foreground (no -D), one mother process; its children share its group.
            cmd.arg("-f")
                .arg(dir.join("danted.conf"))
                .arg("-p")
                .arg(dir.join("danted.pid"))
                .args(["-N", "1"]);
            cmd.process_group(0);
            cmd
        });
        Some(Dante {
            child,
            port,
            log: dir.join("danted.log"),
            _dir: dir,
        })
    }

    /// `scheme://127.0.0.1:port` (`socks4`, `socks5`, `socks5h`).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connections Dante opened to 127.0.0.1:`port` for its clients, after waiting
    /// (bounded) until there are at least `n`.
    pub fn wait_connects_to(&self, port: u16, n: usize) -> usize {
        let target = format!("127.0.0.1.{port}");
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            // "pass(1): tcp/connect [: client proxy -> out target"
            let got = self
                .log_text()
                .lines()
                .filter(|l| l.contains("tcp/connect [") && l.trim_end().ends_with(&target))
                .count();
            if got >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dante {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A CA made with openssl, a server certificate it signed for `127.0.0.1` (IP SAN) and
/// `localhost`, and a second, unrelated CA for wrong-CA tests.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub other_ca_pem: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    openssl: PathBuf,
    dir: Scratch,
}

impl TestCa {
    pub fn generate() -> Option<TestCa> {
        let openssl = openssl()?;
        let dir = Scratch::new("ca");
        let ca = |name: &str, cn: &str| {
            run_openssl(
                &openssl,
                &dir,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-nodes",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "30",
                    "-subj",
                    &format!("/CN={cn}"),
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            )
        };
        ca("ca", "resumedl test CA");
        ca("other-ca", "resumedl unrelated CA");
        let mut ca = TestCa {
            ca_pem: dir.join("ca.pem"),
            other_ca_pem: dir.join("other-ca.pem"),
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            openssl,
            dir,
        };
        let (cert, key) = ca.issue_into("server", "IP:127.0.0.1,DNS:localhost");
        ca.server_cert = cert;
        ca.server_key = key;
        Some(ca)
    }

    /// Another server certificate signed by this CA, for the names in `san`
    /// (`IP:127.0.0.1,DNS:localhost`).
    pub fn issue(&self, name: &str, san: &str) -> ServerCert {
        let dir = Scratch::new("cert");
        let (cert, key) = self.issue_into(name, san);
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::copy(cert, &c).expect("copy cert");
        fs::copy(key, &k).expect("copy key");
        ServerCert {
            cert: c,
            key: k,
            _dir: dir,
        }
    }

    fn issue_into(&self, name: &str, san: &str) -> (PathBuf, PathBuf) {
        static SERIAL: AtomicU64 = AtomicU64::new(2);
        let serial = SERIAL.fetch_add(1, Ordering::SeqCst).to_string();
        let run = |args: &[&str]| run_openssl(&self.openssl, &self.dir, args);
        let (key, csr, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        run(&[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ]);
        fs::write(self.dir.join(&ext), server_extensions(san)).expect("write extensions");
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial,
            "-days",
            "30",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.pem"),
        ]);
        (self.dir.join(&format!("{name}.pem")), self.dir.join(&key))
    }
}

fn server_extensions(san: &str) -> String {
    format!(
        "subjectAltName={san}\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n"
    )
}

/// A server certificate and its key, outside any test CA.
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: Scratch,
}

impl ServerCert {
    /// Self-signed the way people make one for a test server, `openssl req -x509 -addext
    /// subjectAltName=…`: openssl's default config marks it CA:TRUE, which is what made
    /// webpki refuse it as an end entity.
    pub fn self_signed(san: &str) -> Option<ServerCert> {
        let openssl = openssl()?;
        let dir = Scratch::new("selfsigned");
        run_openssl(
            &openssl,
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "30",
                "-subj",
                "/CN=resumedl self-signed",
                "-addext",
                &format!("subjectAltName={san}"),
            ],
        );
        Some(ServerCert {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            _dir: dir,
        })
    }

    /// Self-signed for `san`, valid from 2024-01-01 to 2025-01-01 (00:00 UTC). `openssl req`
    /// takes no dates, `openssl ca` does, with a throwaway database.
    pub fn expired(san: &str) -> Option<ServerCert> {
        let openssl = openssl()?;
        let dir = Scratch::new("expired");
        fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = test\n\
             [test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
             default_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = supplied\n",
        )
        .expect("write ca.cnf");
        fs::write(dir.join("index.txt"), "").expect("write index.txt");
        fs::write(dir.join("serial"), "01\n").expect("write serial");
        fs::write(dir.join("ext"), server_extensions(san)).expect("write ext");
        let run = |args: &[&str]| run_openssl(&openssl, &dir, args);
        run(&[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            "key.pem",
            "-out",
            "csr.pem",
            "-subj",
            "/CN=resumedl expired",
        ]);
        run(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            "key.pem",
            "-in",
            "csr.pem",
            "-out",
            "cert.pem",
            "-startdate",
            "20240101000000Z",
            "-enddate",
            "20250101000000Z",
            "-extfile",
            "ext",
            "-notext",
        ]);
        Some(ServerCert {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            _dir: dir,
        })
    }
}

fn openssl() -> Option<PathBuf> {
    let found = find_program(&["/usr/bin/openssl", "openssl"]);
    if found.is_none() {
        skip("openssl", "openssl");
    }
    found
}

fn run_openssl(openssl: &Path, dir: &Scratch, args: &[&str]) {
    let out = Command::new(openssl)
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert_ok("openssl", args, &out);
}

fn assert_ok(what: &str, args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "{what} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
