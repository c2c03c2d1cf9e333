import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Owner } from './owner.js';
import { tempDir } from './temp-dir.js';

/**
 * A private CA and a server certificate for 127.0.0.1 (client certificates for mutual TLS on
 * demand, `makeClientCert`), made with the openssl command, in a temporary folder. Each call makes
 * a new CA, so two calls give two CAs that do not trust each other (for the wrong-CA test). The
 * folder holds private keys: it is removed when `owner` (the test) ends.
 */
export interface TestPki {
  dir: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

export function makePki(owner?: Owner): TestPki {
  const dir = tempDir('iottly-pki-', owner);
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=iottly test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  issue(dir, 'server', '/CN=127.0.0.1', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth',
  ]);
  return {
    dir,
    caPath: join(dir, 'ca.pem'),
    certPath: join(dir, 'server.pem'),
    keyPath: join(dir, 'server.key'),
    cert: readFileSync(join(dir, 'server.pem')),
    key: readFileSync(join(dir, 'server.key')),
  };
}

/** A client certificate for mutual TLS, `CN=cn`, issued by the PKI's CA (`cn.pem`, `cn.key`). */
export function makeClientCert(pki: TestPki, cn: string): { cert: Buffer; key: Buffer } {
  issue(pki.dir, cn, `/CN=${cn}`, ['extendedKeyUsage=clientAuth']);
  return {
    cert: readFileSync(join(pki.dir, `${cn}.pem`)),
    key: readFileSync(join(pki.dir, `${cn}.key`)),
  };
}

/** A P-256 key `name.key` and its certificate `name.pem`, signed by the CA in `dir`. */
function issue(dir: string, name: string, subject: string, extensions: string[]): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    subject,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  );
  writeFileSync(join(dir, `${name}.cnf`), `${extensions.join('\n')}\n`);
  run(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.cnf`,
    '-out',
    `${name}.pem`,
  );
}
