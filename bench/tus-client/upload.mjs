// Upload a file from disk with tus-js-client (Node), streaming from disk.
// usage: node upload.mjs FILE ENDPOINT [chunkSize]
// env:   TUS_URL_STORAGE=/path/urls.json  -> remember/resume uploads (FileUrlStorage, fingerprint
//                                            = node-file-<abspath>-<size>-<mtime ms>-<endpoint>)
//        TUS_STOP_AFTER=<bytes>           -> abort once at least that many bytes are acknowledged
//                                            (to test resuming); exits 3
// Prints the upload URL on stdout (last line). Exit 0 on success, 1 on error.
//
// Input is an fs.ReadStream created from the path: tus-js-client (lib/node/fileReader.js) then
// uses its FileSource, which re-opens the file with createReadStream({start,end}) for each PATCH,
// so the file is never read into memory whole (a plain Readable would be buffered per chunk, and
// a Buffer would be entirely in memory).
import fs from 'node:fs';
import path from 'node:path';
import { Upload, FileUrlStorage } from 'tus-js-client';

const [file, endpoint, chunkArg] = process.argv.slice(2);
if (!file || !endpoint) {
  console.error('usage: node upload.mjs FILE ENDPOINT [chunkSize]');
  process.exit(2);
}
const chunkSize = chunkArg ? Number(chunkArg) : Number.POSITIVE_INFINITY; // library default: Infinity
const stopAfter = process.env.TUS_STOP_AFTER ? Number(process.env.TUS_STOP_AFTER) : null;

const input = fs.createReadStream(file);
const options = {
  endpoint,
  chunkSize,
  retryDelays: [0, 1000, 3000],
  metadata: { filename: path.basename(file), filetype: 'application/octet-stream' },
  onError: (err) => {
    console.error('upload failed:', err.message);
    process.exit(1);
  },
  onChunkComplete: (chunk, accepted, total) => {
    if (stopAfter !== null && accepted >= stopAfter) {
      upload.abort(false).then(() => {
        console.error(`stopped at ${accepted}/${total}`);
        console.log(upload.url);
        process.exit(3);
      });
    }
  },
  onSuccess: () => {
    console.log(upload.url);
    input.destroy();
  },
};
if (process.env.TUS_URL_STORAGE) {
  options.urlStorage = new FileUrlStorage(process.env.TUS_URL_STORAGE);
  options.removeFingerprintOnSuccess = true;
}

const upload = new Upload(input, options);
if (process.env.TUS_URL_STORAGE) {
  const previous = await upload.findPreviousUploads();
  if (previous.length > 0) {
    console.error(`resuming ${previous[0].uploadUrl}`);
    upload.resumeFromPreviousUpload(previous[0]);
  }
}
upload.start();
