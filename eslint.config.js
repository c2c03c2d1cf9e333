import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The rooms of src/ (its first-level folders) and the rooms each may import: imports run one
 * way, from the entry point down to the shared base. docs/architecture.md draws this table.
 * Nothing imports cli/ but the entry point (src/cli.ts); the device side (agent and its
 * features) and the cloud side (hub, console) share only protocol/, time/ and log/.
 */
const BASE = ['protocol', 'time', 'log'];
const FEATURE = ['agent', 'process', ...BASE];
const DEVICE = [
  'agent',
  'process',
  'storage',
  'commands',
  'forward',
  'telemetry',
  'local',
  'systemd',
  'files',
  'update',
];
export const ROOMS = {
  protocol: [],
  time: [],
  log: [],
  agent: BASE,
  process: BASE,
  storage: FEATURE,
  commands: FEATURE,
  forward: FEATURE,
  telemetry: FEATURE,
  local: FEATURE,
  systemd: FEATURE,
  files: FEATURE,
  update: FEATURE,
  hub: BASE,
  'broker-access': ['protocol'],
  console: ['protocol', 'time'],
  config: [...DEVICE, ...BASE],
  roots: ['config', 'hub', ...DEVICE, ...BASE],
  demo: ['roots', 'config', 'hub', ...DEVICE, ...BASE],
  cli: ['demo', 'roots', 'config', 'hub', 'broker-access', ...DEVICE, ...BASE],
};

/** One no-restricted-imports rule per room: a relative import into a room it may not use fails. */
function roomRules() {
  const all = Object.keys(ROOMS);
  return Object.entries(ROOMS).flatMap(([room, allowed]) => {
    const forbidden = all.filter((other) => other !== room && !allowed.includes(other));
    if (forbidden.length === 0) return [];
    // A file n folders below src/ reaches another room through n `../`.
    return [1, 2, 3].map((depth) => ({
      files: [`src/${room}/${'*/'.repeat(depth - 1)}*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^(\\.\\./){${depth}}((${forbidden.join('|')})/|cli\\.js$)`,
                message: `${room}/ may import only ${allowed.join(', ') || 'nothing outside itself'} (rooms: eslint.config.js, docs/architecture.md).`,
              },
            ],
          },
        ],
      },
    }));
  });
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-output/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports only.' },
      ],
    },
  },
  ...roomRules(),
  { files: ['eslint.config.js'], rules: { 'no-restricted-syntax': 'off' } },
);
