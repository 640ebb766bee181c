import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ConfigError, EnvSchema, loadConfig } from '../src/config.js'

t.test('every variable the service reads is in the README\'s configuration table', async (t) => {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8')
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1))
  t.same(Object.keys(EnvSchema.properties).filter((name) => !table.includes(`\`${name}\``)), [])
})

t.test('defaults match docs/API.md\'s configuration table', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    host: '127.0.0.1',
    port: 3000,
    jwtIssuer: 'http://localhost:3000',
    jwtAudience: 'ecommerce-api',
    accessTokenTtl: 900,
    refreshTokenTtl: 1_209_600,
    loginRateLimit: 30,
    loginMaxFailures: 10,
    trustProxy: false,
    currency: 'USD',
    logLevel: 'info',
    argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
    shutdownDrainMs: 3000
  })
  t.ok(config.dataDir.endsWith('/data'), 'DATA_DIR defaults to ./data, resolved')
  t.equal(config.smtpUrl, undefined)
})

t.test('values are read and typed', async (t) => {
  const config = loadConfig({ PORT: '8080', ACCESS_TOKEN_TTL: '60', CURRENCY: 'EUR', TRUST_PROXY: '2', LOG_LEVEL: 'warn' })
  t.equal(config.port, 8080)
  t.equal(config.accessTokenTtl, 60)
  t.equal(config.currency, 'EUR')
  t.equal(config.trustProxy, 2)
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.1,10.0.0.2' }).trustProxy, '10.0.0.1,10.0.0.2')
  t.equal(loadConfig({ PORT: '' }).port, 3000, 'an empty variable counts as unset')
})

t.test('a bad value stops the start with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '3000.5' }, 'PORT'],
    [{ ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL'],
    [{ REFRESH_TOKEN_TTL: '-5' }, 'REFRESH_TOKEN_TTL'],
    [{ LOGIN_RATE_LIMIT: 'many' }, 'LOGIN_RATE_LIMIT'],
    [{ CURRENCY: 'usd' }, 'CURRENCY'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ SHUTDOWN_DRAIN_MS: '-1' }, 'SHUTDOWN_DRAIN_MS'],
    [{ JWT_ISSUER: 'not a url' }, 'JWT_ISSUER'],
    [{ SMTP_URL: 'http://mail' }, 'SMTP_URL'],
    [{ ADMIN_EMAIL: 'admin@example.test' }, 'ADMIN_PASSWORD'],
    [{ ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'short' }, 'ADMIN_PASSWORD'],
    [{ DATABASE_URL: 'mysql://shop:s3cret-pw@localhost/shop' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://localhost/shop', DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE'],
    [{ REDIS_URL: 'http://:s3cret-pw@cache' }, 'REDIS_URL']
  ]
  for (const [env, variable] of cases) {
    let thrown: unknown
    try {
      loadConfig(env)
    } catch (err) {
      thrown = err
    }
    t.ok(thrown instanceof ConfigError, `${JSON.stringify(env)} is refused`)
    t.equal((thrown as ConfigError).variable, variable)
    t.match((thrown as ConfigError).message, `Invalid configuration: ${variable}`)
    // URLs carry credentials: the message names the variable, never its value.
    t.notMatch((thrown as ConfigError).message, 's3cret-pw')
  }
})

t.test('DATABASE_URL selects PostgreSQL, with a pool size', async (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgresql://shop@db.internal:5432/shop', DATABASE_POOL_SIZE: '25', REDIS_URL: 'redis://cache:6379' })
  t.equal(config.databaseUrl, 'postgresql://shop@db.internal:5432/shop')
  t.equal(config.databasePoolSize, 25)
  t.equal(config.redisUrl, 'redis://cache:6379')
  t.equal(loadConfig({}).databasePoolSize, 10)
})
