// serve.mjs - serves examples/ and the Appwrite Web SDK's browser build, offline
//
//   node examples/serve.mjs [PORT]      http://localhost:8788/ (default port)
//
// browser.html loads the SDK as ./appwrite.js: the IIFE build (global
// `Appwrite`) of the appwrite npm package that the end-to-end tests install
// (test/node/node_modules; `cd test/node && npm ci` fetches it once), so
// the page needs no CDN and no bundler.  test/demo.sh starts this server.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = process.env.APPWRITE_IIFE ||
  path.join(here, '../test/node/node_modules/appwrite/dist/iife/sdk.js');
const port = Number(process.argv[2] || process.env.PORT || 8788);
const host = process.env.HOST || 'localhost';

const files = {
  '/': [path.join(here, 'browser.html'), 'text/html; charset=utf-8'],
  '/browser.html': [path.join(here, 'browser.html'), 'text/html; charset=utf-8'],
  '/appwrite.js': [sdk, 'text/javascript; charset=utf-8'],
};

if (!fs.existsSync(sdk)) {
  console.error(`serve.mjs: ${sdk} is missing: run "npm ci" in test/node first`);
  process.exit(1);
}

http.createServer((req, res) => {
  const file = files[new URL(req.url, 'http://x').pathname];
  if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  fs.readFile(file[0], (err, body) => {
    if (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': file[1], 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}).listen(port, host, () => console.log(`serving examples/ on http://${host}:${port}/`));

for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => process.exit(0));
