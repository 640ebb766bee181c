import crypto from 'node:crypto'
import type { MailMessage } from './outbox.js'

/** Refresh and reset tokens are opaque 256-bit random strings; only their SHA-256 is stored. */
export const newOpaqueToken = () => crypto.randomBytes(32).toString('base64url')
export const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('base64url')
export const nowSeconds = () => Math.floor(Date.now() / 1000)

export const THROTTLE_MS = 15 * 60 * 1000
export const RESET_TOKEN_TTL_SECONDS = 3600

/**
 * `scope` is the login's granted scopes, space-separated; a refresh keeps it. null (rows
 * from before contract v2) means everything the user's role may hold.
 */
export interface NewRefreshToken { userId: number, clientId: string, generation: number, scope: string | null, familyId?: string, ttlSeconds: number }

/** A new refresh token and the row that stores it (only its hash); a new family unless one is given. */
export function refreshTokenRow (input: NewRefreshToken) {
  const token = newOpaqueToken()
  return {
    token,
    row: {
      tokenHash: hashToken(token),
      userId: input.userId,
      familyId: input.familyId ?? crypto.randomUUID(),
      clientId: input.clientId,
      generation: input.generation,
      scope: input.scope,
      expiresAt: nowSeconds() + input.ttlSeconds,
      // Set here, not by the column's default: SQLite's insert is prepared once, and its
      // default would be the time of preparing (introspection reports it as `iat`).
      createdAt: new Date().toISOString()
    }
  }
}

export interface ActiveRefreshToken {
  userId: number
  clientId: string
  scope: string | null
  /** Unix seconds. */
  issuedAt: number
  expiresAt: number
}

/** What inspect() reads of an active refresh token's row, in both dialects. */
export const ACTIVE_REFRESH_COLUMNS = ['userId', 'clientId', 'scope', 'createdAt', 'expiresAt'] as const
export const activeRefreshToken = (row: { userId: number, clientId: string, scope: string | null, createdAt: string, expiresAt: number }): ActiveRefreshToken =>
  ({ userId: row.userId, clientId: row.clientId, scope: row.scope, issuedAt: Math.floor(Date.parse(row.createdAt) / 1000), expiresAt: row.expiresAt })

export type RotationResult =
  | { ok: true, userId: number, clientId: string, scope: string | null, refreshToken: string }
  | { ok: false, reason: 'unknown' | 'expired' | 'revoked' | 'reused' }

export interface RefreshTokenRepository {
  /** Stores a new refresh token; returns the token itself, which is never stored. */
  issue (input: Omit<NewRefreshToken, 'familyId'>): Promise<string>
  /**
   * Marks the token used, once, and issues its successor in the same transaction.
   * Presenting a used token is theft (RFC 9700 §4.14.2): its whole family is
   * revoked; of two concurrent uses exactly one wins and the other revokes the family.
   * A token of a deleted or disabled user, or of an ended session generation, is expired.
   */
  rotate (token: string, ttlSeconds: number): Promise<RotationResult>
  /**
   * RFC 7662 introspection: the token's facts while rotate() would accept it right now
   * (not used, revoked or expired; its user enabled, its session generation current);
   * undefined otherwise. Changes nothing.
   */
  inspect (token: string): Promise<ActiveRefreshToken | undefined>
  /** RFC 7009: the token and its family stop working; unknown tokens are fine. */
  revoke (token: string): Promise<void>
}

/**
 * Consecutive failed logins per submitted e-mail (known or not, so throttling
 * says nothing about which accounts exist). After `maxFailures` the e-mail is
 * refused for 15 minutes, correct password or not; a success clears the count.
 */
export interface LoginThrottle {
  /** Milliseconds until the e-mail may try again; 0 when it may now. */
  retryAfterMs (email: string, now?: number): Promise<number>
  recordFailure (email: string, now?: number): Promise<void>
  recordSuccess (email: string): Promise<void>
}

export interface PasswordResetRepository {
  /**
   * One write transaction per request, known address or not, so that both answers
   * take about as long: it clears tokens whose hour is over and, for a user, stores a
   * new single-use token (only its hash) and queues the e-mail carrying it, together.
   * True when an e-mail was queued.
   */
  request (user: { id: number, email: string } | undefined, mail: (token: string) => Omit<MailMessage, 'to'>): Promise<boolean>
  /**
   * Uses the token once and sets the new password hash, ending every session of
   * the user; undefined when the token is wrong, used or expired. Exactly one of
   * two concurrent confirmations wins.
   */
  confirm (token: string, passwordHash: string): Promise<number | undefined>
}

export interface AuthRepositories {
  refreshTokens: RefreshTokenRepository
  loginThrottle: (maxFailures: number) => LoginThrottle
  passwordResets: PasswordResetRepository
}

/** The failure count after one more failure: a lock that has run out starts a fresh count. */
export function nextFailure (row: { failures: number, lockedUntil: number | null } | undefined, maxFailures: number, now: number) {
  const previous = row && !(row.lockedUntil && row.lockedUntil <= now) ? row.failures : 0
  const failures = previous + 1
  return { failures, lockedUntil: failures >= maxFailures ? now + THROTTLE_MS : null }
}
