import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OutputCoalescer, type OutputFd } from '../../src/process/coalescer.js';
import { childBaseEnv } from '../../src/process/child-env.js';
import { parseProcStat, runningMembers } from '../../src/process/group-members.js';
import { commandPayload } from '../../src/commands/command-payloads.js';
import { DEFAULT_ALLOW_ENV } from '../../src/commands/env-policy.js';
import { CommandPolicy, type PolicyOptions } from '../../src/commands/command-policy.js';
import { resolveProgram } from '../../src/process/program-path.js';
import { ProcessGroup } from '../../src/process/process-group.js';
import { ptyArgv, shellQuote } from '../../src/commands/pty.js';
import { resolveRunAs } from '../../src/config/run-as.js';
import { Utf8Splitter, completeUtf8Length } from '../../src/protocol/utf8-chunks.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('UTF-8 chunks', () => {
  it('holds back only an unfinished character at the end', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    assert.equal(completeUtf8Length(Buffer.from('abc')), 3);
    assert.equal(completeUtf8Length(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)])), 1);
    assert.equal(completeUtf8Length(Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)])), 1);
    assert.equal(completeUtf8Length(Buffer.concat([Buffer.from('a'), euro])), 4);
    assert.equal(completeUtf8Length(Buffer.from([0x41, 0xf0, 0x9f, 0x98])), 1);
    assert.equal(completeUtf8Length(Buffer.from([0x41, 0xff])), 2); // invalid: not held
    assert.equal(completeUtf8Length(Buffer.from([0x80, 0x80, 0x80])), 3);
  });

  it('rebuilds random text and bytes split at random places byte for byte (fuzz)', () => {
    let seed = 11;
    const rand = (n: number): number => (seed = (seed * 48271) % 2147483647) % n;
    const pieces = ['a', 'é', '€', '😀', '\n', '\u0000'];
    for (let round = 0; round < 300; round++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < 50; i++) {
        parts.push(
          rand(10) === 0
            ? Buffer.from([rand(256)])
            : Buffer.from(pieces[rand(pieces.length)] as string),
        );
      }
      const input = Buffer.concat(parts);
      const splitter = new Utf8Splitter();
      const out: Buffer[] = [];
      let at = 0;
      while (at < input.length) {
        const step = 1 + rand(7);
        const chunk = splitter.take(input.subarray(at, at + step), at + step >= input.length);
        at += step;
        if (!chunk) continue;
        if (chunk.encoding === undefined) assert.ok(!chunk.chunk.includes('\ufffd'));
        out.push(Buffer.from(chunk.chunk, chunk.encoding === 'base64' ? 'base64' : 'utf8'));
      }
      assert.deepEqual(Buffer.concat(out), input);
    }
  });
});

describe('OutputCoalescer', () => {
  const setup = (): { clock: FakeClock; pieces: [OutputFd, string][]; c: OutputCoalescer } => {
    const clock = new FakeClock();
    const pieces: [OutputFd, string][] = [];
    const c = new OutputCoalescer({
      windowMs: 20,
      maxBytes: 8,
      clock,
      onPiece: (fd, bytes) => pieces.push([fd, bytes.toString()]),
    });
    return { clock, pieces, c };
  };

  it('sends what arrived within 20 ms as one piece per stream, in order', () => {
    const { clock, pieces, c } = setup();
    c.push('stdout', Buffer.from('a'));
    c.push('stderr', Buffer.from('x'));
    c.push('stdout', Buffer.from('b'));
    clock.advance(19);
    assert.deepEqual(pieces, []);
    clock.advance(1);
    assert.deepEqual(pieces, [
      ['stdout', 'ab'],
      ['stderr', 'x'],
    ]);
  });

  it('sends full pieces at once without waiting for the window', () => {
    const { pieces, c, clock } = setup();
    c.push('stdout', Buffer.from('0123456789abcdefXY'));
    assert.deepEqual(pieces, [
      ['stdout', '01234567'],
      ['stdout', '89abcdef'],
    ]);
    assert.equal(c.pendingBytes, 2);
    clock.advance(20);
    assert.deepEqual(pieces.at(-1), ['stdout', 'XY']);
    c.flush();
    assert.equal(pieces.length, 3);
  });
});

describe('CommandPolicy', () => {
  it('lets everything through without lists, and deny wins over allow', () => {
    assert.deepEqual(
      new CommandPolicy({
        enabled: true,
        allow: [],
        deny: [],
        allowShell: false,
        allowEnv: [],
      }).check({
        command: 'a; b',
      }),
      { allowed: true },
    );
    const p = new CommandPolicy({
      enabled: true,
      allow: ['^ls'],
      deny: ['-R'],
      allowShell: false,
      allowEnv: [],
    });
    assert.equal(p.check({ argv: ['ls', '-R'] }).allowed, false);
    assert.equal(p.check({ argv: ['ls', '-l'] }).allowed, true);
  });

  it('refuses shell metacharacters with an allow list unless allowShell', () => {
    const strict = new CommandPolicy({
      enabled: true,
      allow: ['^tail '],
      deny: [],
      allowShell: false,
      allowEnv: [],
    });
    for (const line of [
      'tail x; id',
      'tail x | sh',
      'tail $(id)',
      'tail `id`',
      'tail x > y',
      'tail "x"',
      'tail *',
      'tail a\nid',
    ]) {
      assert.equal(strict.check({ command: line }).allowed, false, line);
    }
    assert.equal(strict.check({ command: 'tail -n 50 /var/log/app.log' }).allowed, true);
    assert.equal(strict.check({ argv: ['tail', 'x;y'] }).allowed, true);
    const shell = new CommandPolicy({
      enabled: true,
      allow: ['^tail '],
      deny: [],
      allowShell: true,
      allowEnv: [],
    });
    assert.equal(shell.check({ command: 'tail x | head' }).allowed, true);
  });

  it('refuses everything when disabled', () => {
    const off = new CommandPolicy({
      enabled: false,
      allow: [],
      deny: [],
      allowShell: true,
      allowEnv: [],
    });
    assert.equal(off.check({ command: 'true' }).allowed, false);
  });
});

describe('CommandPolicy: the environment and the program of a request', () => {
  const policy = (options: Partial<PolicyOptions> = {}): CommandPolicy =>
    new CommandPolicy({
      enabled: true,
      allow: ['^ls( |$)'],
      deny: [],
      allowShell: false,
      allowEnv: DEFAULT_ALLOW_ENV,
      ...options,
    });
  const reason = (p: CommandPolicy, request: Parameters<CommandPolicy['check']>[0]): string => {
    const decision = p.check(request);
    return decision.allowed ? 'allowed' : decision.reason;
  };

  /** Names that choose the program, or what a shell, the loader or an interpreter loads. */
  const REFUSED = [
    'PATH',
    'SHELL',
    'ENV',
    'BASH_ENV',
    'BASH_FUNC_ls%%',
    'SHELLOPTS',
    'BASHOPTS',
    'PS4',
    'PROMPT_COMMAND',
    'IFS',
    'CDPATH',
    'GLOBIGNORE',
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'LD_AUDIT',
    'GCONV_PATH',
    'LOCPATH',
    'NLSPATH',
    'MALLOC_CHECK_',
    'GLIBC_TUNABLES',
    'HOSTALIASES',
    'RESOLV_HOST_CONF',
    'PYTHONPATH',
    'PYTHONSTARTUP',
    'PERL5LIB',
    'PERL5OPT',
    'PERLLIB',
    'RUBYLIB',
    'RUBYOPT',
    'NODE_OPTIONS',
    'NODE_PATH',
    'LUA_PATH',
    'LUA_INIT',
    'JAVA_TOOL_OPTIONS',
    'GIT_SSH_COMMAND',
    'GIT_EXEC_PATH',
    'GIT_CONFIG_GLOBAL',
    'EDITOR',
    'VISUAL',
    'PAGER',
    'LESS',
    'LESSOPEN',
    'LESSCLOSE',
    'HOME',
    'XDG_CONFIG_HOME',
    'TMPDIR',
    'OPENSSL_CONF',
    'ZDOTDIR',
    'FPATH',
    'TERMINFO',
    'MAKEFLAGS',
  ];

  it('refuses every program-steering variable under a policy, even when allowEnv lists it', () => {
    const policies = {
      allow: policy(),
      denyOnly: policy({ allow: [], deny: ['^reboot'] }),
      allowEnvStar: policy({ allowEnv: ['*'] }),
    };
    for (const name of REFUSED) {
      for (const [label, p] of Object.entries({
        ...policies,
        listed: policy({ allowEnv: [name] }),
      })) {
        for (const spelled of [name, name.toLowerCase()]) {
          const why = reason(p, { argv: ['ls'], env: { LANG: 'C', [spelled]: '/tmp/x' } });
          assert.notEqual(why, 'allowed', `${spelled} under ${label}`);
          assert.ok(why.includes(JSON.stringify(spelled)), `${label}: ${why}`);
        }
      }
    }
    assert.match(
      reason(policy({ allowEnv: ['*'] }), { argv: ['ls'], env: { BASH_ENV: 'x' } }),
      /env "BASH_ENV" can change which program runs or what it loads/,
    );
  });

  it('lets the default allowEnv names through, and only them', () => {
    const p = policy();
    const env = {
      LANG: 'C.UTF-8',
      LANGUAGE: 'fr:de',
      LC_ALL: 'C',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'Europe/Rome',
      TERM: 'xterm',
      COLUMNS: '120',
      LINES: '40',
      NO_COLOR: '1',
    };
    assert.equal(reason(p, { argv: ['ls'], env }), 'allowed');
    assert.equal(reason(p, { command: 'ls -l', env }), 'allowed');
    assert.match(
      reason(p, { argv: ['ls'], env: { APP_MODE: 'x' } }),
      /env "APP_MODE" is not in commands.allowEnv/,
    );
    const app = policy({ allowEnv: [...DEFAULT_ALLOW_ENV, 'APP_*', 'DEBUG'] });
    assert.equal(reason(app, { argv: ['ls'], env: { APP_MODE: 'x', DEBUG: '1' } }), 'allowed');
    assert.notEqual(reason(app, { argv: ['ls'], env: { DEBUGGER: '1' } }), 'allowed');
    assert.notEqual(reason(app, { argv: ['ls'], env: { debug: '1' } }), 'allowed');
  });

  it('does not judge the environment without a policy (any program may run then)', () => {
    const open = policy({ allow: [], deny: [] });
    assert.equal(reason(open, { argv: ['ls'], env: { PATH: '/tmp', FOO: 'x' } }), 'allowed');
  });

  it('refuses locale and time-zone values that name a file, and exported shell functions', () => {
    const p = policy({ allowEnv: [...DEFAULT_ALLOW_ENV, 'X'] });
    for (const [name, value] of [
      ['LANG', '/tmp/locale'],
      ['LC_ALL', '../../../tmp/locale'],
      ['LANGUAGE', 'fr:/tmp/po'],
      ['TZ', ':/tmp/zone'],
      ['TZ', '/tmp/zone'],
      ['TERM', '../tmp/term'],
      ['X', '() { :; }; id'],
      ['X', ' () { :;}'],
    ] as const) {
      const why = reason(p, { argv: ['ls'], env: { [name]: value } });
      assert.ok(why.includes(`"${name}"`), `${name}=${value}: ${why}`);
    }
    assert.equal(reason(p, { argv: ['ls'], env: { TZ: ':Europe/Rome', X: '(a) b' } }), 'allowed');
  });

  it('refuses a program path relative to a cwd the request chose', () => {
    const p = policy({ allow: ['ls'] });
    assert.match(
      reason(p, { argv: ['./ls'], cwd: '/tmp' }),
      /program "\.\/ls" is relative to the request's cwd/,
    );
    assert.notEqual(reason(p, { command: 'bin/ls -l', cwd: '/tmp' }), 'allowed');
    assert.equal(reason(p, { argv: ['./ls'] }), 'allowed');
    assert.equal(reason(p, { argv: ['/bin/ls'], cwd: '/tmp' }), 'allowed');
    assert.equal(reason(p, { argv: ['ls'], cwd: '/tmp' }), 'allowed');
  });

  it('refuses variable assignments before the program of a plain shell line', () => {
    const p = policy({ allow: ['ls'] });
    assert.match(
      reason(p, { command: 'LD_PRELOAD=/tmp/x.so ls' }),
      /variable assignment "LD_PRELOAD=\/tmp\/x.so"/,
    );
    assert.notEqual(reason(p, { command: 'LANG=C ls' }), 'allowed');
    assert.equal(reason(p, { command: 'ls a=b' }), 'allowed');
  });

  it('never allows a request that names a steering variable, in any case or with any suffix (fuzz)', () => {
    let seed = 13;
    const rand = (n: number): number => (seed = (seed * 48271) % 2147483647) % n;
    const pick = <T>(list: readonly T[]): T => list[rand(list.length)] as T;
    const steeringPrefixes = ['LD_', 'BASH_FUNC_', 'PYTHON', 'GIT_', 'LUA_', 'MALLOC_', 'XDG_'];
    const harmless = [
      'LANG',
      'TZ',
      'LC_ALL',
      'LC_X',
      'TERM',
      'NO_COLOR',
      'APP_1',
      'FOO',
      'COLUMNS',
    ];
    const suffixes = ['', 'X', '_1', '%%', 'PATH', 'Z_'];
    const cased = (name: string): string =>
      [...name].map((c) => (rand(2) === 0 ? c.toLowerCase() : c.toUpperCase())).join('');
    const policies = [
      policy(),
      policy({ allowEnv: ['*'] }),
      policy({ allow: [], deny: ['^reboot'], allowEnv: ['*'] }),
      policy({ allowEnv: [...REFUSED, ...steeringPrefixes.map((p) => `${p}*`), 'APP_*'] }),
    ];
    let refused = 0;
    let allowed = 0;
    for (let round = 0; round < 3000; round++) {
      const env: Record<string, string> = {};
      let steering = false;
      for (let i = 0, n = 1 + rand(4); i < n; i++) {
        const kind = rand(3);
        let name: string;
        if (kind === 0) {
          name = pick(REFUSED);
          steering = true;
        } else if (kind === 1) {
          name = pick(steeringPrefixes) + pick(suffixes);
          steering = true;
        } else {
          name = pick(harmless);
        }
        env[rand(3) === 0 ? cased(name) : name] = pick(['C', 'x', '/tmp/x', '1']);
      }
      const p = pick(policies);
      const decision = p.check({ argv: ['ls'], env });
      if (steering) {
        assert.equal(decision.allowed, false, JSON.stringify(env));
        refused++;
      } else if (decision.allowed) {
        allowed++;
      }
    }
    assert.ok(refused > 1000, `${refused} steering requests generated`);
    assert.ok(allowed > 50, `${allowed} harmless requests allowed`);
  });
});

describe('resolveProgram', () => {
  it('finds a bare name in the given PATH only: absolute directories, executable files', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'resolve-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const [notExec, isDir, good] = ['a', 'b', 'c'].map((d) => join(root, d)) as [
      string,
      string,
      string,
    ];
    for (const dir of [notExec, isDir, good]) mkdirSync(dir);
    writeFileSync(join(notExec, 'tool'), '#!/bin/sh\n');
    chmodSync(join(notExec, 'tool'), 0o644);
    mkdirSync(join(isDir, 'tool'));
    writeFileSync(join(good, 'tool'), '#!/bin/sh\n');
    chmodSync(join(good, 'tool'), 0o755);
    const path = ['', 'relative/dir', notExec, isDir, good].join(':');
    assert.equal(resolveProgram('tool', path), join(good, 'tool'));
    assert.equal(resolveProgram('tool', `${notExec}:${isDir}`), null);
    assert.equal(resolveProgram('missing', path), null);
    assert.equal(resolveProgram('tool', undefined), null);
  });

  it('gives commands the agent’s PATH without empty or relative entries, and no IOTTLY_ secrets', () => {
    assert.deepEqual(
      childBaseEnv({ PATH: '/usr/bin::.:bin:/bin:', IOTTLY_AUTH_TOKEN: 'secret', LANG: 'C' }),
      { PATH: '/usr/bin:/bin', LANG: 'C' },
    );
  });
});

describe('ProcessGroup', () => {
  it('sends SIGTERM to the group, then SIGKILL after the grace unless released', () => {
    const clock = new FakeClock();
    const sent: [number, string | number][] = [];
    const group = new ProcessGroup({
      pgid: 42,
      clock,
      kill: (pid, sig) => void sent.push([pid, sig]),
      members: () => [1],
    });
    group.terminate(500);
    group.terminate(500); // again: nothing new
    clock.advance(499);
    assert.deepEqual(sent, [[-42, 'SIGTERM']]);
    clock.advance(1);
    assert.deepEqual(sent, [
      [-42, 'SIGTERM'],
      [-42, 'SIGKILL'],
    ]);
    const other = new ProcessGroup({
      pgid: 7,
      clock,
      kill: (pid, sig) => void sent.push([pid, sig]),
      members: () => [1],
    });
    other.terminate(100);
    other.release();
    clock.advance(1000);
    assert.deepEqual(sent.at(-1), [-7, 'SIGTERM']);
  });

  it('treats ESRCH as an empty group, and a group of zombies as not running', () => {
    const clock = new FakeClock();
    const esrch = Object.assign(new Error('no such process'), { code: 'ESRCH' });
    const gone = new ProcessGroup({
      pgid: 1,
      clock,
      kill: () => {
        throw esrch;
      },
      members: () => [],
    });
    assert.equal(gone.alive(), false);
    gone.terminate(100);
    const zombies = new ProcessGroup({ pgid: 2, clock, kill: () => {}, members: () => [] });
    assert.equal(zombies.alive(), true);
    assert.equal(zombies.running(), false);
  });
});

describe('group members from /proc', () => {
  it('parses stat lines whose command holds spaces and parentheses', () => {
    assert.deepEqual(parseProcStat('123 (a (b) c) S 1 99 99 0'), {
      pid: 123,
      state: 'S',
      ppid: 1,
      pgrp: 99,
      session: 99,
    });
    assert.equal(parseProcStat('garbage'), null);
  });

  it('lists running, non-zombie members of a group from a fake /proc', () => {
    const files: Record<string, string> = {
      '/p/10/stat': '10 (sh) S 1 10 10',
      '/p/11/stat': '11 (sleep) S 10 10 10',
      '/p/12/stat': '12 (sleep) Z 1 10 10',
      '/p/13/stat': '13 (other) R 1 13 13',
    };
    const reader = {
      readdir: () => ['10', '11', '12', '13', '14', 'self'],
      readFile: (path: string) => {
        const text = files[path];
        if (text === undefined) throw new Error('ENOENT');
        return text;
      },
    };
    assert.deepEqual(
      runningMembers(10, '/p', reader).map((p) => p.pid),
      [10, 11],
    );
  });
});

describe('resolveRunAs', () => {
  const etc: Record<string, string> = {
    '/e/passwd': 'root:x:0:0:root:/root:/bin/sh\nsvc:x:1001:1002::/home/svc:/bin/sh\n',
    '/e/group': 'root:x:0:\nops:x:2000:svc\n',
  };
  const sources = { currentUid: 0, etcRoot: '/e', readFile: (p: string) => etc[p] ?? '' };

  it('resolves names and numbers, and the user’s primary group', () => {
    assert.equal(resolveRunAs('', '', sources), null);
    assert.deepEqual(resolveRunAs('svc', '', sources), {
      uid: 1001,
      gid: 1002,
      name: 'svc',
      home: '/home/svc',
      shell: '/bin/sh',
    });
    assert.deepEqual(resolveRunAs('svc', 'ops', sources)?.gid, 2000);
    assert.deepEqual(resolveRunAs('5000', '5001', sources), { uid: 5000, gid: 5001 });
  });

  it('fails at start-up on an unknown name, or when the agent is not root', () => {
    assert.throws(() => resolveRunAs('nobody-here', '', sources), ConfigError);
    assert.throws(() => resolveRunAs('svc', 'nogroup', sources), /commands.group/);
    assert.throws(() => resolveRunAs('svc', '', { ...sources, currentUid: 1000 }), /root/);
  });
});

describe('command payloads and config', () => {
  it('wants exactly one of command and argv', () => {
    assert.equal(commandPayload({ command: 'ls' }, 'payload').ok, true);
    assert.equal(commandPayload({ argv: ['ls', '-l'] }, 'payload').ok, true);
    const both = commandPayload({ command: 'ls', argv: ['ls'] }, 'payload');
    assert.equal(both.ok, false);
    assert.match(!both.ok ? both.error : '', /exactly one/);
  });

  it('quotes argv for the pty wrapper', () => {
    assert.equal(shellQuote('plain/path-1'), 'plain/path-1');
    assert.equal(shellQuote("it's $x"), `'it'\\''s $x'`);
    assert.deepEqual(ptyArgv('top', '/s'), ['/s', '-q', '-e', '-f', '-c', 'top', '/dev/null']);
  });

  it('reads the commands section from env, with allow lists as JSON arrays', () => {
    const loaded = loadConfig({
      env: { IOTTLY_COMMANDS_ALLOW: '["^ls", "^df( |$)"]', IOTTLY_COMMANDS_MAX_CONCURRENT: '2' },
      flags: { 'commands.allowShell': 'true' },
      readFile: () => {
        throw Object.assign(new Error('absent'), { code: 'ENOENT' });
      },
    });
    assert.deepEqual(loaded.config.commands.allow, ['^ls', '^df( |$)']);
    assert.equal(loaded.config.commands.maxConcurrent, 2);
    assert.equal(loaded.config.commands.allowShell, true);
    assert.equal(loaded.config.commands.enabled, true);
    assert.deepEqual(loaded.config.commands.allowEnv, DEFAULT_ALLOW_ENV);
    assert.throws(
      () =>
        loadConfig({
          env: { IOTTLY_COMMANDS_DENY: '["("]' },
          flags: {},
          readFile: () => {
            throw Object.assign(new Error('absent'), { code: 'ENOENT' });
          },
        }),
      (err: unknown) => err instanceof ConfigError && /commands.deny/.test(err.message),
    );
  });

  it('reads commands.allowEnv as names and NAME_* prefixes, and refuses anything else', () => {
    const load = (value: string) =>
      loadConfig({
        env: { IOTTLY_COMMANDS_ALLOW_ENV: value },
        flags: {},
        readFile: () => {
          throw Object.assign(new Error('absent'), { code: 'ENOENT' });
        },
      }).config.commands.allowEnv;
    assert.deepEqual(load('["LANG", "APP_*"]'), ['LANG', 'APP_*']);
    assert.deepEqual(load('LANG, TZ'), ['LANG', 'TZ']);
    assert.deepEqual(load('*'), ['*']);
    for (const bad of ['["A B"]', '["A*B"]', '["=x"]', '[1]', '{"a":1}']) {
      assert.throws(
        () => load(bad),
        (err: unknown) => err instanceof ConfigError && /commands.allowEnv/.test(err.message),
        bad,
      );
    }
  });
});
