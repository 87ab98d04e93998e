// The tus 1.0 server of resumedl's upload tests (@tus/server + @tus/file-store, pinned
// in package-lock.json; installed by .ci/install.sh). Started by tests/upload.rs.
// Usage: node server.mjs UPLOAD_DIR
// Optional env: TUS_MAX_SIZE=<bytes>      -> Server maxSize (advertised as Tus-Max-Size)
//               TUS_RELATIVE_LOCATION=1   -> Location header is "/files/<id>" instead of absolute
//               TUS_EXPIRATION_MS=<ms>    -> FileStore expiration (Upload-Expires header, 410 once expired)
//               TUS_REQUEST_TIMEOUT_MS=<ms> -> node http requestTimeout (default 300000: a single
//                                          request, e.g. one big PATCH, longer than that is cut)
//               TUS_HOST=127.0.0.1 TUS_PORT=0
//               TUS_LOG=<file>            -> one line per closed connection: the bytes it
//                                          received (request heads and bodies), so a test
//                                          can count how often each byte was sent
// Prints "PORT <n>" as the first stdout line once listening. Exits 0 on SIGTERM/SIGINT.
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import fs from 'node:fs';
import nodeHttp from 'node:http';
import { Readable } from 'node:stream';

// Workaround: on Node 20.20 (bundled undici) the stock FileStore.read() returns an
// fs.ReadStream; undici wraps it with ReadableStreamFrom and srvx cancels the reader
// on 'close' after the body was sent -> delayed controller.close() throws an
// uncatchable ERR_INVALID_STATE and the whole process dies on every GET of a
// finished upload (nodejs/undici#5715). Handing back a web stream avoids that path.
class SafeFileStore extends FileStore {
  read(id) {
    return Readable.toWeb(fs.createReadStream(this.resolve(id)));
  }
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node server.mjs UPLOAD_DIR');
  process.exit(2);
}

const opts = {
  path: '/files',
  datastore: new SafeFileStore({
    directory: dir,
    expirationPeriodInMilliseconds: Number(process.env.TUS_EXPIRATION_MS || 0),
  }),
};
if (process.env.TUS_MAX_SIZE) opts.maxSize = Number(process.env.TUS_MAX_SIZE);
if (process.env.TUS_RELATIVE_LOCATION === '1') opts.relativeLocation = true;

const tus = new Server(opts);
const host = process.env.TUS_HOST || '127.0.0.1';
const port = Number(process.env.TUS_PORT || 0);

const httpOpts = {};
if (process.env.TUS_REQUEST_TIMEOUT_MS) {
  httpOpts.requestTimeout = Number(process.env.TUS_REQUEST_TIMEOUT_MS);
  httpOpts.connectionsCheckingInterval = Math.min(30000, Math.max(100, httpOpts.requestTimeout / 4));
}
// same as tus.listen(), but lets us pass http.Server options
const http = nodeHttp.createServer(httpOpts, tus.handle.bind(tus)).listen({ host, port }, () => {
  process.stdout.write(`PORT ${http.address().port}\n`);
});
if (process.env.TUS_LOG) {
  const log = process.env.TUS_LOG;
  http.on('connection', (socket) => {
    // Counted at the socket, beside the HTTP parser (another 'data' listener does not
    // change what the parser gets).
    let received = 0;
    socket.on('data', (chunk) => { received += chunk.length; });
    socket.on('close', () => fs.appendFileSync(log, `${received}\n`));
  });
}

let stopping = false;
function stop(sig) {
  if (stopping) return;
  stopping = true;
  console.error(`got ${sig}, shutting down`);
  http.close(() => process.exit(0));
  http.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
