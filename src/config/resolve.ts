import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import type { TlsMaterial } from '../agent/connection.js';
import { ConfigError, type LoadedConfig } from './load.js';
import { envName, flagName } from './schema.js';

/**
 * What `run` needs beyond a well-typed config: the values that must be present together, and
 * the secrets and certificates read from their files. Every problem names the key and its source.
 */
export interface RunSecrets {
  token: string;
  tls: TlsMaterial;
}

export function resolveRunSecrets(
  loaded: LoadedConfig,
  readFile: (path: string) => Buffer,
): RunSecrets {
  const { config, sourceOf } = loaded;
  const problems: string[] = [];
  const problem = (key: string, text: string): void => {
    problems.push(`${key} (from ${sourceOf(key)}): ${text}`);
  };

  const required = (key: string, what: string): void => {
    problems.push(`${key} is required: set it in ${spellings(key)} (${what})`);
  };
  if (config.server.url === '')
    required('server.url', 'the hub URL, e.g. wss://hub.example.com/v1/device');
  if (config.device.id === '') required('device.id', "this device's id");
  else if (!DEVICE_ID_PATTERN.test(config.device.id)) {
    problem('device.id', `must be 1-128 of letters, digits, . _ : - (got "${config.device.id}")`);
  }
  if (config.reconnect.maxDelayMs < config.reconnect.initialDelayMs) {
    problem(
      'reconnect.maxDelayMs',
      `must be at least reconnect.initialDelayMs (${config.reconnect.initialDelayMs})`,
    );
  }

  const read = (key: string, path: string): Buffer | undefined => {
    if (path === '') return undefined;
    try {
      return readFile(path);
    } catch (err) {
      problem(
        key,
        `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
      return undefined;
    }
  };

  let token = config.auth.token;
  if (config.auth.tokenFile !== '') {
    if (token !== '')
      problem('auth.tokenFile', 'set either auth.token or auth.tokenFile, not both');
    token = read('auth.tokenFile', config.auth.tokenFile)?.toString('utf8').trim() ?? '';
    if (token === '' && problems.length === 0)
      problem('auth.tokenFile', `${config.auth.tokenFile} is empty`);
  } else if (token === '') {
    required(
      'auth.token',
      `the device token; or a file holding it: ${spellings('auth.tokenFile')}`,
    );
  }
  if (/[\r\n]/.test(token)) problem('auth.token', 'must be one line');

  const tls: TlsMaterial = {};
  const ca = read('tls.ca', config.tls.ca);
  const cert = read('tls.cert', config.tls.cert);
  const key = read('tls.key', config.tls.key);
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if ((config.tls.cert === '') !== (config.tls.key === '')) {
    problem(
      config.tls.cert === '' ? 'tls.cert' : 'tls.key',
      'tls.cert and tls.key go together (mutual TLS)',
    );
  }
  const usesTls = config.tls.ca !== '' || config.tls.cert !== '';
  const scheme = config.server.url.match(/^(ws|mqtt):\/\//)?.[1];
  if (usesTls && scheme !== undefined) {
    problem(
      'server.url',
      `tls.* is set but the URL is ${scheme}:// (plain text); use ${scheme === 'ws' ? 'wss' : 'mqtts'}://`,
    );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { token, tls };
}

/** The three ways to set a key: "the config file as server.url, or IOTTLY_SERVER_URL, or --server-url". */
function spellings(key: string): string {
  return `the config file as ${key}, or ${envName(key)}, or --${flagName(key)}`;
}
