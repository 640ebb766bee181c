import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp, type App } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import type Database from 'better-sqlite3'
import type { SqliteDb } from '../src/db/index.js'
import { postgresServer } from './postgres.js'

export type { App }

/** The SQLite store's drizzle database, for tests that read or set rows directly; throws on PostgreSQL. */
export function dbOf (app: App): SqliteDb {
  if (app.store.dialect !== 'sqlite') throw new Error('this app runs on PostgreSQL: read it through app.store')
  return app.store.db
}

/** The SQLite store's connection, for tests that read or set rows directly; throws on PostgreSQL. */
export const sqliteOf = (app: App): Database.Database => dbOf(app).$client

/** A fresh directory under the OS temp dir, removed when the test ends. */
export function tempDir (t: Test, prefix = 'ecommerce-api-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The environment tests run with: cheap argon2 so hashing does not dominate, no address limit. */
export function testEnv (dataDir: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    // Tests make many accounts from one address; the throttling tests set their own limits.
    LOGIN_RATE_LIMIT: '100000',
    ...env
  }
}

export function testConfig (dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig(testEnv(dataDir, env))
}

/**
 * Builds an app on a fresh SQLite file, or with TEST_STORE=postgres (test/postgres-suites/)
 * on a fresh PostgreSQL database; closed when the test ends.
 */
export async function build (t: Test, env: Record<string, string> = {}, dataDir = tempDir(t)): Promise<App> {
  if (process.env.TEST_STORE === 'postgres' && env.DATABASE_URL === undefined) {
    const server = await postgresServer()
    if (!server) throw new Error('TEST_STORE=postgres, but there is no PostgreSQL server')
    const databaseUrl = await server.createDatabase()
    t.teardown(() => server.dropDatabase(databaseUrl))
    env = { ...env, DATABASE_URL: databaseUrl }
  }
  const app = await buildApp(testConfig(dataDir, env))
  t.teardown(() => app.close())
  await app.ready()
  return app
}

export const DEFAULT_PASSWORD = 'correct horse battery'

export interface TestUser {
  id: number
  email: string
  password: string
  accessToken: string
  refreshToken: string
  /** Inject with this user's Bearer token. */
  inject: (options: InjectOptions) => Promise<LightMyRequestResponse>
}

let counter = 0
/** A unique e-mail per call, so tests in one file never collide. */
export const uniqueEmail = (name = 'user') => `${name}-${process.pid}-${++counter}@example.test`

/** The password grant; `scope` narrows the login (absent: everything the role may hold). */
export async function login (app: App, email: string, password = DEFAULT_PASSWORD, scope?: string) {
  const res = await app.inject({
    method: 'POST',
    url: '/auth/token',
    payload: { grant_type: 'password', username: email, password, ...(scope === undefined ? {} : { scope }) }
  })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json<{ access_token: string, refresh_token: string }>()
}

export function asUser (app: App, accessToken: string) {
  return (options: InjectOptions) => app.inject({
    ...options,
    headers: { ...options.headers, authorization: `Bearer ${accessToken}` }
  })
}

/** Registers and logs in a user; role 'admin' promotes it directly in the database. */
export async function createUser (app: App, options: { email?: string, password?: string, role?: 'admin' | 'customer', fullName?: string } = {}): Promise<TestUser> {
  const email = options.email ?? uniqueEmail(options.role ?? 'user')
  const password = options.password ?? DEFAULT_PASSWORD
  const res = await app.inject({
    method: 'POST',
    url: '/users',
    payload: { email, password, ...(options.fullName ? { full_name: options.fullName } : {}) }
  })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  const { id } = res.json<{ id: number }>()
  if (options.role === 'admin') await app.repos.users.update(id, { role: 'admin' })
  const tokens = await login(app, email, password)
  return {
    id,
    email: email.toLowerCase(),
    password,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    inject: asUser(app, tokens.access_token)
  }
}

export interface TestClient {
  clientId: string
  clientSecret: string
  scopes: string[]
  /** A client_credentials token for every scope the client holds. */
  accessToken: string
  /** Inject with this client's Bearer token. */
  inject: (options: InjectOptions) => Promise<LightMyRequestResponse>
}

/** Registers a service client through POST /clients (as a fresh admin) and gets it a token. */
export async function createClient (app: App, scopes: string[], options: { admin?: TestUser, name?: string } = {}): Promise<TestClient> {
  const admin = options.admin ?? await createUser(app, { role: 'admin' })
  const created = await admin.inject({ method: 'POST', url: '/clients', payload: { name: options.name ?? 'test service', scopes } })
  if (created.statusCode !== 201) throw new Error(`client not created: ${created.statusCode} ${created.body}`)
  const { client_id: clientId, client_secret: clientSecret } = created.json<{ client_id: string, client_secret: string }>()
  const accessToken = await clientToken(app, clientId, clientSecret)
  return { clientId, clientSecret, scopes, accessToken, inject: asUser(app, accessToken) }
}

/** grant_type=client_credentials with client_secret_post; throws unless 200. */
export async function clientToken (app: App, clientId: string, clientSecret: string, scope?: string): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/auth/token',
    payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, ...(scope === undefined ? {} : { scope }) }
  })
  if (res.statusCode !== 200) throw new Error(`client_credentials failed: ${res.statusCode} ${res.body}`)
  return res.json<{ access_token: string }>().access_token
}

/** A port free right now on 127.0.0.1: for a server whose JWT_ISSUER must name its own origin before it listens. */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
