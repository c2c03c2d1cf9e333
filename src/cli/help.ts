import { SYSTEM_SOCKET_PATH } from '../config/default-paths.js';
import { INSECURE_PERMISSIONS_FLAG } from '../config/permissions.js';
import { DEFAULT_CONFIG_PATH, envName, flagName, leafAt, leafKeys } from '../config/schema.js';
import { BROKER_CONFIG_HELP } from './broker-config-help.js';
import { CP_HELP } from './cp-help.js';
import { EXEC_HELP } from './exec-help.js';
import { FORWARD_HELP } from './forward-help.js';
import { HUB_FLAGS } from './hub-flags.js';

/**
 * `iottly-agent --help` and `iottly-agent <command> --help`: what each command does and every
 * flag it takes, on stdout. The configuration flags are listed from the schema, so they cannot
 * drift from it.
 */
export const USAGE = `usage: iottly-agent <command> [options]

commands:
  run            connect to the hub and serve this device (config: --config PATH, IOTTLY_* env, flags)
  check-config   print the effective configuration (secrets redacted); exit 0, or 78 if invalid
  hub            run the reference hub (--host, --port, --api-key, --device-token ID=TOKEN, …)
  broker-config  write mosquitto's password and ACL files for a fleet on a broker (mosquitto --out DIR, …)
  shell          an interactive terminal on a device through the hub: DEVICE [-- CMD …] (--hub, --api-key)
  cp             copy a file to or from a device through the hub: LOCAL DEVICE:PATH, DEVICE:PATH LOCAL (--hub, --api-key)
  publish        send JSON to the cloud through the running agent: [--channel C] [--app NAME] ['<json>'] (or stdin)
  exec           run a command on a device through the hub, bytes in and out: [--hub URL] [--api-key KEY] DEVICE -- CMD [ARGS…]
  forward        a local port carried to HOST:PORT as the device sees it, as ssh -L: DEVICE [BIND:]LPORT:HOST:PORT (--hub, --api-key)
  keygen         make an ed25519 key pair for signing agent updates: [--out DIR]
  sign           sign an agent binary for updates: BINARY --key KEY [--version V] [--arch A]
  demo           a hub and an agent on loopback, with readable logs (what \`npm start\` runs)
  inventory      print what this device says about itself in hello (hostname, os, model, …) as JSON
  version        print the agent version

\`iottly-agent <command> --help\` lists the command's flags. Every configuration key is also a
flag: server.url → --server-url, heartbeat.intervalMs → --heartbeat-interval-ms. See README.md
for keys, environment variables and exit codes.`;

export const HELP_FLAGS = ['--help', '-h'];

export function commandHelp(command: string): string | undefined {
  switch (command) {
    case 'run':
      return agentHelp('run', 'Connects to the hub and serves this device until SIGTERM/SIGINT.');
    case 'check-config':
      return agentHelp(
        'check-config',
        'Prints the effective configuration (secrets redacted, default paths resolved); exit 0, or 78 naming every problem.',
      );
    case 'hub':
      return `usage: iottly-agent hub [flags]

Runs the reference hub: device and stream WebSockets, REST, webhooks and the console. Where it
listens and a generated API key go to stderr; stdout holds the log lines. With --broker, the
devices come from an MQTT broker, and any number of hubs on that broker serve one fleet.

${HUB_FLAGS}`;
    case 'broker-config':
      return BROKER_CONFIG_HELP;
    case 'keygen':
      return `usage: iottly-agent keygen [--out DIR] [--force]

Makes an ed25519 key pair for signing agent updates: DIR/iottly-update.key (the private key,
0600: keep it off devices and hubs) and DIR/iottly-update.pub, whose text (also printed) goes
into the devices' update.publicKeys. DIR defaults to the current folder; an existing key is kept
unless --force.`;
    case 'sign':
      return `usage: iottly-agent sign BINARY --key KEY [--version V] [--arch A] [--out FILE]

Writes BINARY.sig (or FILE), the detached signature of an agent build: version, arch, size,
sha256 and key id, signed with KEY (from iottly-agent keygen). The version is read by running
\`BINARY version\` and the arch (x64, arm64, arm) from its ELF header unless given.
README "Updating the agent".`;
    case 'exec':
      return EXEC_HELP;
    case 'forward':
      return FORWARD_HELP;
    case 'cp':
      return CP_HELP;
    case 'publish':
      return `usage: iottly-agent publish [flags] ['<json>']

Sends a JSON object to the cloud through the running agent's SDK socket, as an app would (a
Type "user" message). Without the argument it reads stdin, one JSON object per line.
Exit 65 if a message was not a JSON object, 69 if no agent serves the socket.

  --channel C                 the message's channel
  --app NAME                  the app name the agent sees (iottly-agent-publish)
  --config PATH               the agent's config file, to find its socket
  --local-socket-path PATH    the socket itself (default: as \`run\` resolves local.socketPath;
                              not root and no agent of yours there: the service's, ${SYSTEM_SOCKET_PATH})`;
    case 'shell':
      return `usage: iottly-agent shell [flags] DEVICE [-- CMD [ARGS…]]

An interactive terminal on DEVICE through the hub, as ssh gives one: the login shell of the user
the device runs commands as (or CMD), this terminal in raw mode, its size followed on resize.
Type ~. after a newline to drop the session (~~ sends one ~). Exits with the remote status
(128 + signal number when it was killed), 255 when the hub or the device refused or ended the
session (the reason on stderr), 64 for a bad command line.

  --hub URL          the hub (http, https, ws or wss; its /v1/stream). Default: IOTTLY_HUB_URL
  --api-key KEY      a stream API key of the hub. Default: IOTTLY_API_KEY`;
    case 'demo':
      return `usage: iottly-agent demo

Runs a reference hub and an agent in one process on loopback, with readable logs, until Ctrl-C
(what \`npm start\` runs). It takes no flags; nothing is written outside a temporary directory.`;
    case 'version':
      return `usage: iottly-agent version

Prints the agent version.`;
    default:
      return undefined;
  }
}

function agentHelp(command: string, what: string): string {
  const rows = leafKeys().map((key) => [
    `--${flagName(key)} VALUE`,
    `${envName(key)}: ${leafAt(key)?.doc ?? ''}`,
  ]);
  const width = Math.max(...rows.map(([flag = '']) => flag.length)) + 2;
  return `usage: iottly-agent ${command} [--config PATH] [--KEY VALUE …]

${what}
Sources, lowest to highest: defaults, the JSON file, IOTTLY_* environment variables, flags.

  --config PATH${' '.repeat(Math.max(2, width - 13))}the JSON config file (${DEFAULT_CONFIG_PATH}; a missing default file is fine)
  --${INSECURE_PERMISSIONS_FLAG}
${' '.repeat(width + 2)}start even if every user can read the token
  --help${' '.repeat(Math.max(2, width - 6))}this text

Every configuration key is a flag (and an environment variable):
${rows.map(([flag = '', text]) => `  ${flag.padEnd(width)}${text}`).join('\n')}`;
}
