import path from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import threadPool from './thread-pool.cjs'

const PositiveInt = (defaultValue: number, maximum = 2 ** 31 - 1) =>
  Type.Integer({ minimum: 1, maximum, default: defaultValue })

// Every variable of docs/API.md's configuration table, plus the argon2 cost knobs.
// Values arrive as strings; Value.Convert turns digit strings into numbers so a
// non-number is reported against the variable that carried it.
export const EnvSchema = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  // Connections each instance keeps to PostgreSQL; instances × this must stay under the server's max_connections.
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  JWT_ISSUER: Type.String({ pattern: '^https?://[^\\s]+$', default: 'http://localhost:3000' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'ecommerce-api' }),
  ACCESS_TOKEN_TTL: PositiveInt(900, 86_400),
  REFRESH_TOKEN_TTL: PositiveInt(1_209_600),
  JWT_PRIVATE_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_EMAIL: Type.Optional(Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', maxLength: 254 })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
  LOGIN_RATE_LIMIT: PositiveInt(30),
  LOGIN_MAX_FAILURES: PositiveInt(10),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  MAIL_FROM: Type.String({ minLength: 3, default: 'ecommerce-api <no-reply@localhost>' }),
  TRUST_PROXY: Type.String({ minLength: 1, default: 'false' }),
  CURRENCY: Type.String({ pattern: '^[A-Z]{3}$', default: 'USD' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  ),
  // Comma-separated origins allowed to call the API from a browser; unset means no CORS at all.
  CORS_ORIGINS: Type.Optional(Type.String({ pattern: '^https?://[^,\\s]+(,https?://[^,\\s]+)*$' })),
  // How long a page of GET /products may be served from memory; other instances' writes show within it. 0: off.
  CATALOGUE_CACHE_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  // On SIGTERM: how long /health/ready answers 503 and requests are still served (with
  // Connection: close) before the service stops listening, so a load balancer or Kubernetes
  // can stop sending first; ends early once no connection is open. 0: stop at once.
  SHUTDOWN_DRAIN_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 3000 }),
  METRICS_ENABLED: Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false' }),
  // OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1.
  ARGON2_MEMORY_KIB: Type.Integer({ minimum: 1024, maximum: 4_194_304, default: 19_456 }),
  ARGON2_TIME_COST: Type.Integer({ minimum: 1, maximum: 20, default: 2 }),
  ARGON2_PARALLELISM: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  // argon2 runs on libuv's pool, which src/main.cts sizes to this.
  // Unset: defaultHashConcurrency().
  HASH_CONCURRENCY: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  // Hashes allowed to wait for a slot; beyond that the caller gets 503 instead of piling up memory.
  HASH_QUEUE_LIMIT: Type.Integer({ minimum: 0, maximum: 10_000, default: 64 })
})
export type Env = Static<typeof EnvSchema>

export const { defaultHashConcurrency } = threadPool

const SECRET_VARIABLES = new Set(['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'ADMIN_PASSWORD'])

export interface Config {
  host: string
  port: number
  dataDir: string
  databaseUrl?: string
  databasePoolSize: number
  redisUrl?: string
  jwtIssuer: string
  jwtAudience: string
  accessTokenTtl: number
  refreshTokenTtl: number
  jwtPrivateKeyFile?: string
  adminEmail?: string
  adminPassword?: string
  loginRateLimit: number
  loginMaxFailures: number
  smtpUrl?: string
  mailFrom: string
  trustProxy: boolean | number | string
  currency: string
  logLevel: string
  argon2: { memoryCost: number; timeCost: number; parallelism: number }
  hashConcurrency: number
  hashQueueLimit: number
  catalogueCacheMs: number
  metricsEnabled: boolean
  shutdownDrainMs: number
  corsOrigins: string[]
}

export class ConfigError extends Error {
  constructor (readonly variable: string, detail: string) {
    super(`Invalid configuration: ${variable} ${detail}`)
    this.name = 'ConfigError'
  }
}

function parseTrustProxy (raw: string): Config['trustProxy'] {
  if (raw === 'false') return false
  if (raw === 'true') return true
  if (/^\d+$/.test(raw)) return Number(raw)
  return raw
}

/** Reads the environment; throws a ConfigError naming the first bad variable. */
export function loadConfig (source: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.keys(EnvSchema.properties)
  // An empty variable means "unset", as in most shells' `VAR= cmd`.
  const raw = Object.fromEntries(
    known.filter((key) => source[key] !== undefined && source[key] !== '').map((key) => [key, source[key]])
  )
  // Value.Convert would truncate "3000.5" to 3000: integers must be written as integers.
  for (const [key, property] of Object.entries(EnvSchema.properties)) {
    const value = raw[key]
    if ('type' in property && property.type === 'integer' && value !== undefined && !/^-?\d+$/.test(value)) {
      throw new ConfigError(key, `must be an integer (got ${JSON.stringify(value)})`)
    }
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const firstError = Value.Errors(EnvSchema, env).First()
  if (firstError) {
    const variable = firstError.path.replace(/^\//, '') || 'environment'
    // URLs may carry credentials: a bad one is named, never echoed.
    const got = SECRET_VARIABLES.has(variable) ? 'value not shown' : `got ${JSON.stringify(raw[variable] ?? null)}`
    throw new ConfigError(variable, `${firstError.message} (${got})`)
  }
  const valid = env as Env
  if ((valid.ADMIN_EMAIL === undefined) !== (valid.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError(valid.ADMIN_EMAIL ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL', 'must be set together with the other')
  }
  return {
    host: valid.HOST,
    port: valid.PORT,
    dataDir: path.resolve(valid.DATA_DIR),
    databaseUrl: valid.DATABASE_URL,
    databasePoolSize: valid.DATABASE_POOL_SIZE,
    redisUrl: valid.REDIS_URL,
    jwtIssuer: valid.JWT_ISSUER,
    jwtAudience: valid.JWT_AUDIENCE,
    accessTokenTtl: valid.ACCESS_TOKEN_TTL,
    refreshTokenTtl: valid.REFRESH_TOKEN_TTL,
    jwtPrivateKeyFile: valid.JWT_PRIVATE_KEY_FILE && path.resolve(valid.JWT_PRIVATE_KEY_FILE),
    adminEmail: valid.ADMIN_EMAIL,
    adminPassword: valid.ADMIN_PASSWORD,
    loginRateLimit: valid.LOGIN_RATE_LIMIT,
    loginMaxFailures: valid.LOGIN_MAX_FAILURES,
    smtpUrl: valid.SMTP_URL,
    mailFrom: valid.MAIL_FROM,
    trustProxy: parseTrustProxy(valid.TRUST_PROXY),
    currency: valid.CURRENCY,
    logLevel: valid.LOG_LEVEL,
    argon2: {
      memoryCost: valid.ARGON2_MEMORY_KIB,
      timeCost: valid.ARGON2_TIME_COST,
      parallelism: valid.ARGON2_PARALLELISM
    },
    hashConcurrency: valid.HASH_CONCURRENCY ?? defaultHashConcurrency(),
    hashQueueLimit: valid.HASH_QUEUE_LIMIT,
    catalogueCacheMs: valid.CATALOGUE_CACHE_MS,
    metricsEnabled: valid.METRICS_ENABLED === 'true',
    shutdownDrainMs: valid.SHUTDOWN_DRAIN_MS,
    corsOrigins: valid.CORS_ORIGINS?.split(',') ?? []
  }
}
