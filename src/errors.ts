/**
 * The error hierarchy shared by every layer. Each class says what went wrong in
 * terms of the caller's input or the kernel's answer, and carries the fields a
 * program needs to react (errno and code, the path of a bad field, ...).
 */
import { ERRNO } from './errno.js';

/** Base class of every error netfwd throws on purpose. */
export class NetfwdError extends Error {
  override name = 'NetfwdError';
}

/** The symbolic name of an errno value, e.g. 17 → 'EEXIST'. */
export function errnoCode(errno: number): string {
  return ERRNO.get(Math.abs(errno))?.[0] ?? `E${Math.abs(errno)}`;
}

/** The description of an errno value, as strerror gives it. */
export function errnoMessage(errno: number): string {
  return ERRNO.get(Math.abs(errno))?.[1] ?? `Unknown error ${Math.abs(errno)}`;
}

/** The errno value of a symbolic name, e.g. 'EEXIST' → 17. */
export function errnoNumber(code: string): number | undefined {
  for (const [n, [name]] of ERRNO) if (name === code) return n;
  return undefined;
}

export interface NetlinkErrorDetails {
  /** The kernel's extended-ACK message, when it sent one. */
  extack?: string;
  /** Byte offset of the offending attribute from the start of the failing message. */
  offset?: number;
  /** The offending attribute as a schema path (e.g. `linkinfo.data.peer.ifname`). */
  attribute?: string;
  /** What was being done, e.g. `add route 192.0.2.0/24 table 5000`. */
  operation?: string;
  /** Index of the failing message within a bulk send or a transaction. */
  index?: number;
  /** Attribute type the kernel reported missing (NLMSGERR_ATTR_MISS_TYPE). */
  missingType?: number;
}

/** The kernel refused a request, or the socket failed. */
export class NetlinkError extends NetfwdError {
  override name = 'NetlinkError';
  /** Positive errno value. */
  readonly errno: number;
  /** Symbolic errno, e.g. `EEXIST`. */
  readonly code: string;
  readonly extack?: string;
  readonly offset?: number;
  attribute?: string;
  operation?: string;
  index?: number;
  readonly missingType?: number;

  constructor(errno: number, details: NetlinkErrorDetails = {}) {
    const code = errnoCode(errno);
    super(NetlinkError.compose(errno, code, details));
    this.errno = Math.abs(errno);
    this.code = code;
    this.extack = details.extack;
    this.offset = details.offset;
    this.attribute = details.attribute;
    this.operation = details.operation;
    this.index = details.index;
    this.missingType = details.missingType;
  }

  private static compose(errno: number, code: string, d: NetlinkErrorDetails): string {
    let text = `${errnoMessage(errno)} (${code})`;
    if (d.extack) text += `: ${d.extack}`;
    if (d.attribute) text += ` [attribute ${d.attribute}]`;
    else if (d.offset !== undefined) text += ` [at byte ${d.offset}]`;
    return d.operation ? `${d.operation}: ${text}` : text;
  }

  /** Rebuilds the message after operation or attribute became known. */
  annotate(details: Pick<NetlinkErrorDetails, 'operation' | 'attribute' | 'index'>): this {
    if (details.operation !== undefined) this.operation = details.operation;
    if (details.attribute !== undefined) this.attribute = details.attribute;
    if (details.index !== undefined) this.index = details.index;
    this.message = NetlinkError.compose(this.errno, this.code, {
      extack: this.extack,
      offset: this.offset,
      attribute: this.attribute,
      operation: this.operation,
    });
    return this;
  }
}

/** Bytes that do not form a valid message: truncated, garbage or of the wrong width. */
export class DecodeError extends NetfwdError {
  override name = 'DecodeError';
  /** Where in the message the problem is, e.g. `linkinfo.data` or `nlmsghdr`. */
  readonly path: string;
  constructor(message: string, path = '') {
    super(path ? `${path}: ${message}` : message);
    this.path = path;
  }
}

/** Caller input rejected before anything was sent to the kernel. */
export class ValidationError extends NetfwdError {
  override name = 'ValidationError';
  /** Path of the offending field, e.g. `gateway` or `forwards[2].port`. */
  readonly field: string;
  /** What would have been valid. */
  readonly expected?: string;
  constructor(field: string, problem: string, expected?: string) {
    super(`${field ? `${field}: ` : ''}${problem}${expected ? ` (expected ${expected})` : ''}`);
    this.field = field;
    this.expected = expected;
  }
}

/** The state changed between read and commit (e.g. an nftables generation mismatch). */
export class ConflictError extends NetfwdError {
  override name = 'ConflictError';
}

/** A dump kept being interrupted by concurrent changes (NLM_F_DUMP_INTR) past the retry limit. */
export class DumpInterruptedError extends NetfwdError {
  override name = 'DumpInterruptedError';
}

/**
 * An invalid ServiceForward spec or configuration file: `field` is the path of
 * the offending field (e.g. `forwards[2].to.peer`), the message says what would
 * be valid. Thrown before anything touches the kernel.
 */
export class ConfigError extends ValidationError {
  override name = 'ConfigError';
}

/**
 * A ServiceForward apply failed at one step. The steps applied before it were
 * undone in reverse order; `restored` says whether that fully succeeded.
 */
export class ApplyError extends NetfwdError {
  override name = 'ApplyError';
  /** The failing step, as printed by plan (e.g. `+ route default dev wg0 table 5000`). */
  readonly step: string;
  /** 1-based position of the failing step and the number of steps. */
  readonly position: number;
  readonly total: number;
  readonly restored: boolean;
  readonly rollbackErrors: readonly Error[];
  constructor(step: string, position: number, total: number, cause: unknown, rollbackErrors: readonly Error[]) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const state =
      rollbackErrors.length === 0
        ? 'the previous state was restored'
        : `rollback incomplete (${rollbackErrors.length} undo step(s) failed: ${rollbackErrors.map((e) => e.message).join('; ')}); run \`netfwd up\` again or \`netfwd down\` to converge`;
    super(`step ${position}/${total} "${step}" failed: ${why}; ${state}`, { cause });
    this.step = step;
    this.position = position;
    this.total = total;
    this.restored = rollbackErrors.length === 0;
    this.rollbackErrors = rollbackErrors;
  }
}
