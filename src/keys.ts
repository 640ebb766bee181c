import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { ConfigError } from './config.js'

/** The algorithms of the key types we accept (Ed25519, P-256, RSA); never a symmetric one. */
export type SigningAlgorithm = 'EdDSA' | 'ES256' | 'RS256'

/** A public JWK as the JWKS publishes it (RFC 7517). */
export interface PublicJwk {
  kty: string
  kid: string
  alg: SigningAlgorithm
  use: 'sig'
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
}

export interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  privatePem: string
  publicPem: string
  publicJwk: PublicJwk
}

export interface KeyRing {
  /** Signs new tokens: the newest key. */
  active: SigningKey
  /** Every key that may have signed a still-valid token, newest first. */
  all: SigningKey[]
  byKid: Map<string, SigningKey>
}

function algorithmOf (key: crypto.KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256'
  throw new Error(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (use Ed25519, P-256 or RSA ≥ 2048)`)
}

// RFC 7638 thumbprint: the same key always gets the same kid, on every instance.
function thumbprint (jwk: crypto.JsonWebKey): string {
  const members = jwk.kty === 'OKP'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
    : jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { e: jwk.e, kty: jwk.kty, n: jwk.n }
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

export function signingKeyFromPem (privatePem: string): SigningKey {
  const privateKey = crypto.createPrivateKey(privatePem)
  const publicKey = crypto.createPublicKey(privateKey)
  const alg = algorithmOf(privateKey)
  const jwk = publicKey.export({ format: 'jwk' })
  const kid = thumbprint(jwk)
  const { kty = '', crv, x, y, n, e } = jwk
  const publicJwk: PublicJwk = { kty, kid, alg, use: 'sig', crv, x, y, n, e }
  return {
    kid,
    alg,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk
  }
}

export const keysDirectory = (dataDir: string) => path.join(dataDir, 'keys')

const newPrivatePem = () => crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' })

/** Writes a new Ed25519 key; file names sort by creation, so the newest is last. */
export function generateKeyFile (dataDir: string): string {
  const dir = keysDirectory(dataDir)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, `${Date.now()}-${crypto.randomBytes(4).toString('hex')}.pem`)
  // wx: never overwrite; 0600: the private key is readable by its owner only.
  fs.writeFileSync(file, newPrivatePem(), { mode: 0o600, flag: 'wx' })
  return file
}

// Sorts before every timestamped name; its own creation time is never consulted
// (a key retires by its successor's age).
const FIRST_KEY = '0-first.pem'

/**
 * Creates the first key unless one exists. Instances starting together on an
 * empty DATA_DIR must agree on it: had each written its own timestamped key,
 * each would sign with a different one that the others neither publish nor
 * accept until their next reload. The key is written whole to a private temporary
 * name and hard-linked to one fixed name, which only one of them can create.
 */
function ensureFirstKey (dataDir: string): void {
  const dir = keysDirectory(dataDir)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (pemFiles(dir).length > 0) return
  const temporary = path.join(dir, `.${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`)
  fs.writeFileSync(temporary, newPrivatePem(), { mode: 0o600, flag: 'wx' })
  const first = path.join(dir, FIRST_KEY)
  const alreadyThere = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST'
  try {
    fs.linkSync(temporary, first)
  } catch (err) {
    // EEXIST: another instance won, and its key is the first one. Anything else is
    // a file system without hard links: an exclusive copy still lets only one win.
    if (!alreadyThere(err)) {
      try {
        fs.copyFileSync(temporary, first, fs.constants.COPYFILE_EXCL)
      } catch (copyErr) {
        if (!alreadyThere(copyErr)) throw copyErr
      }
    }
  } finally {
    fs.rmSync(temporary, { force: true })
  }
}

function ring (keys: SigningKey[]): KeyRing {
  const [active] = keys
  if (!active) throw new Error('no signing key')
  return { active, all: keys, byKid: new Map(keys.map((key) => [key.kid, key])) }
}

// Tokens carry whole-second times and clocks drift: keep a retired key a little longer.
const CLOCK_SKEW_MS = 60_000
const createdAtOf = (fileName: string) => Number(fileName.split('-')[0])

function pemFiles (dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => /^\d+-[\w]+\.pem$/.test(name)).sort() : []
}

/**
 * The key files of DATA_DIR/keys, oldest first, split into those that may still
 * verify a live token and those that may not: an older key is retired once its
 * successor has been signing for a whole access-token lifetime.
 */
export function keyFiles (dataDir: string, accessTokenTtl: number, now = Date.now()): { live: string[], retired: string[] } {
  const files = pemFiles(keysDirectory(dataDir))
  const retired = files.filter((_, i) => {
    const successor = files[i + 1]
    return successor !== undefined && createdAtOf(successor) + accessTokenTtl * 1000 + CLOCK_SKEW_MS < now
  })
  return { live: files.filter((file) => !retired.includes(file)), retired }
}

/**
 * JWT_PRIVATE_KEY_FILE when set (instances share one file); otherwise the live
 * keys under DATA_DIR/keys, generating the first one on first start. The newest
 * key signs; every live key verifies and is published in the JWKS.
 */
export function loadKeyRing (config: { dataDir: string, jwtPrivateKeyFile?: string, accessTokenTtl: number }): KeyRing {
  if (config.jwtPrivateKeyFile) {
    let pem: string
    try {
      pem = fs.readFileSync(config.jwtPrivateKeyFile, 'utf8')
    } catch (err) {
      throw new ConfigError('JWT_PRIVATE_KEY_FILE', `cannot be read: ${(err as Error).message}`)
    }
    try {
      return ring([signingKeyFromPem(pem)])
    } catch (err) {
      throw new ConfigError('JWT_PRIVATE_KEY_FILE', `is not a usable private key: ${(err as Error).message}`)
    }
  }
  const dir = keysDirectory(config.dataDir)
  ensureFirstKey(config.dataDir)
  const newestFirst = keyFiles(config.dataDir, config.accessTokenTtl).live.reverse()
  return ring(newestFirst.map((name) => signingKeyFromPem(fs.readFileSync(path.join(dir, name), 'utf8'))))
}
