import { decodeJson } from './bounded-json.js';
import { ErrorCode } from './error-codes.js';
import { requestId, seqNumber } from './fields.js';
import { MAX_FRAME_BYTES } from './message.js';
import { isPlainObject, type Validator } from './schema.js';

/** Validators for one direction of traffic: one per message type that side accepts. */
export type ValidatorSet = Record<string, Validator<Record<string, unknown>>>;

export interface ParsedFrame {
  type: string;
  payload: Record<string, unknown>;
  request_id?: string;
  /** The whole decoded object, for the few envelope fields a receiver may read (seq, ts, channel). */
  raw: Record<string, unknown>;
}

export interface FrameError {
  code: ErrorCode;
  message: string;
  /** Echoed back so the peer can tell which of its requests failed. */
  request_id?: string;
  /** The frame's type, when it had one (a receiver must not answer an `error` with an error). */
  type?: string;
  /** The sender's `seq`, when the frame had a valid one: a refused message is still processed. */
  seq?: number;
}

export type ParseResult = { ok: true; frame: ParsedFrame } | { ok: false; error: FrameError };

const requestIdValidator = requestId();
const envelopeSeq = seqNumber();

/**
 * Decodes and validates one text frame against the validator for its `type`.
 * Never throws: anything a peer sends becomes either a typed frame or a FrameError naming what
 * was wrong. Text too large or nested too deep is refused before it is decoded (`invalid_json`,
 * the message says which): nothing downstream ever holds a value deeper than MAX_JSON_DEPTH.
 */
export function parseFrame(data: string, validators: ValidatorSet): ParseResult {
  const json = decodeJson(data, { maxBytes: MAX_FRAME_BYTES });
  if (!json.ok) return failure(ErrorCode.invalidJson, `frame is ${json.message}`);
  const decoded = json.value;
  if (!isPlainObject(decoded)) {
    return failure(ErrorCode.missingType, 'frame must be a JSON object with a string "type"');
  }
  const result = validateFrame(decoded, validators);
  if (!result.ok && envelopeSeq(decoded.seq, 'seq').ok) result.error.seq = decoded.seq as number;
  return result;
}

function validateFrame(decoded: Record<string, unknown>, validators: ValidatorSet): ParseResult {
  const { type, request_id: requestId } = decoded;
  let echoId: string | undefined;
  if (requestId !== undefined) {
    const r = requestIdValidator(requestId, 'request_id');
    if (!r.ok) {
      // Name the type even here, so that a malformed `error` frame is still never answered.
      return failure(
        ErrorCode.invalidPayload,
        r.error,
        undefined,
        typeof type === 'string' ? type : undefined,
      );
    }
    echoId = r.value;
  }
  if (typeof type !== 'string' || type.length === 0) {
    return failure(ErrorCode.missingType, 'frame has no string "type"', echoId);
  }
  const validate = Object.hasOwn(validators, type) ? validators[type] : undefined;
  if (!validate) {
    return failure(ErrorCode.unknownType, `unknown message type "${clip(type)}"`, echoId, type);
  }
  const payload = decoded.payload ?? {};
  const r = validate(payload, 'payload');
  if (!r.ok) return failure(ErrorCode.invalidPayload, `${type}: ${r.error}`, echoId, type);
  const frame: ParsedFrame = { type, payload: r.value, raw: decoded };
  if (echoId !== undefined) frame.request_id = echoId;
  return { ok: true, frame };
}

function failure(code: ErrorCode, message: string, requestId?: string, type?: string): ParseResult {
  const error: FrameError = { code, message };
  if (requestId !== undefined) error.request_id = requestId;
  if (type !== undefined) error.type = type;
  return { ok: false, error };
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** Turns a ws message into text; binary frames are refused where a JSON text frame is expected. */
export function frameText(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): string | null {
  if (isBinary) return null;
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
