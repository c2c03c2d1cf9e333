import { Format } from './formats.js';

/**
 * The `update` section (merged into the schema in src/config/schema.ts): the agent replacing
 * its own binary with a signed artifact the hub sends (README "Updating the agent").
 *
 * `enabled` defaults to true because nothing can be installed until an operator puts a key in
 * `update.publicKeys` (empty by default): the key, not the switch, is the decision to trust
 * someone with the device's code. `enabled: false` refuses updates even with keys set.
 */
export const UpdateDefaults = {
  healthTimeoutS: 120,
  maxStarts: 3,
  maxBytes: 512 * 1024 * 1024,
} as const;

export const updateSchema = {
  enabled: {
    doc: 'Accept signed updates of the agent binary from the hub (also needs update.publicKeys); false refuses them (update_denied).',
    format: Format.strictBoolean,
    default: true,
  },
  publicKeys: {
    doc: 'ed25519 public keys whose signatures an update must carry, as iottly-agent keygen prints them: a JSON array of "ed25519:<base64>", or a comma list from env and flags. Empty: no update is accepted.',
    format: Format.updatePublicKeys,
    default: [] as string[],
  },
  healthTimeoutS: {
    doc: 'Seconds an updated agent has, from the swap, to come online; past them the previous binary is restored (update_result cause not_online).',
    format: Format.positiveSeconds,
    default: UpdateDefaults.healthTimeoutS,
  },
  maxStarts: {
    doc: 'Starts of an updated agent that did not come online after which the update guard restores the previous binary (cause crashed), 1-100.',
    format: Format.updateMaxStarts,
    default: UpdateDefaults.maxStarts,
  },
  maxBytes: {
    doc: 'Largest update artifact accepted, in bytes (update_too_large beyond).',
    format: Format.positiveInt,
    default: UpdateDefaults.maxBytes,
  },
  binaryPath: {
    doc: 'The binary an update replaces; empty: the running single binary itself (an agent run by node from dist/ takes updates only with this set). Its folder must be writable by the agent.',
    format: Format.optionalPath,
    default: '',
  },
};
