import fs from 'node:fs'
import { STATUS_CODES } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import fc from 'fast-check'
import type { ValidateFunction } from 'ajv'
import type { LightMyRequestResponse } from 'fastify'
import { build, DEFAULT_PASSWORD, type App } from '../helper.js'
import {
  brokenArbitrary, brokenFieldArbitrary, componentResolver, faultTargets, createAjv, createValidator, dereference, hinted, sealed, validArbitrary,
  type ConvertOptions, type JsonSchema
} from './json-schema-arbitrary.js'
import { declaredResponse, operationsOf, type OpenApiDocument, type Operation, type Parameter } from './openapi-operations.js'
import { ALL_SCOPES, CLIENT_SCOPES, FuzzWorld, ROLE_SCOPES, scopeString, type FuzzClient, type Grant, type Minted, type Scope } from './fuzz-world.js'

// "Hold under attack": every operation of the LIVE OpenAPI document gets valid
// and broken input — paths, queries, headers, bodies, media types, tokens —
// as a customer, as an admin, with service clients' tokens and people's tokens
// of random scope sets, and with no or a junk token. Nothing may be a 5xx,
// every declared status must carry its declared body, every other 4xx the
// standard error body, nothing the document forbids may succeed, and a token
// gets 403 insufficient_scope exactly when it has none of the scopes the
// operation's `security` lists. The token and introspection endpoints also get
// client authentication (Basic, in the body, both, wrong) whose answers the
// contract pins. All violations are collected and reported together at the end.
//
// Replay: FUZZ_SEED=<seed printed below> npx tap test/fuzz/openapi-fuzz.test.ts
// More:   FUZZ_RUNS=<random requests per operation> (default 40)

const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31)
const RUNS = Number(process.env.FUZZ_RUNS ?? 40)
/** Bursts per operation, and copies of the same request in each. */
const BURSTS = 3
const BURST_SIZE = 8
if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`)
if (!Number.isSafeInteger(RUNS) || RUNS < 0) throw new Error(`FUZZ_RUNS must be a non-negative integer, not ${process.env.FUZZ_RUNS}`)

/** RFC 6749 endpoints: their 400s are { error, error_description }, not the API's error body. */
const OAUTH_PATHS = new Set(['/auth/token', '/auth/revoke', '/auth/introspect'])
/** Where a service client authenticates (contract v2): their 401 is invalid_client, not a Bearer challenge. */
const CLIENT_AUTH_PATHS = new Set(['/auth/token', '/auth/introspect'])
const OAUTH_ERROR: JsonSchema = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: { error: { type: 'string' }, error_description: { type: 'string' } }
}
const KB = 1024
const DEPTH = 10_000

/** Path segments no id parameter may take: the router gets them raw, as a client could send them. */
const JUNK_PATH_VALUES = [
  '0', '-1', '1.5', 'abc', '%00', '9'.repeat(40), '99999999999999999999', '1e3', '0x1', '01', '+1', '-0',
  '%201', '1%20', '%0A1', '%F0%9F%92%A5', '%C3%A9', '\u00e9', '\uff11', '\u0663', '%', '%ZZ', '1%2F2', '1%2F..',
  'null', '__proto__', 'constructor', "1'", '1;DROP%20TABLE%20users'
]
/** Query strings written raw: malformed escapes, repeats, brackets, a 10 KB value. */
const RAW_QUERIES = [
  'limit=%', 'cursor=%E0%A4%A', 'limit=1&limit=2', 'limit[]=1', '&&&', '=', 'limit=1e1', 'limit=0x10', 'limit=%00',
  `cursor=${'A'.repeat(10 * KB)}`, '__proto__[polluted]=1', 'constructor[prototype][polluted]=1', 'q=%25%5F',
  'user_id=-1', 'category_id=1.0', 'email=%FF%FE'
]
/** Cursors that look almost right. */
const JUNK_CURSORS = [
  'abc', '!!!', 'A'.repeat(64), 'A'.repeat(65), Buffer.from('{"id":"x"}').toString('base64url'),
  Buffer.from('[1,2]').toString('base64url'), Buffer.from('{"id":-1,"created_at":"x"}').toString('base64url'),
  Buffer.from('{"__proto__":{"polluted":1}}').toString('base64url'), Buffer.from('null').toString('base64url'), 'eyJ9'
]

const JUNK_AUTH_COUNT = 16
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** JUNK_AUTH_COUNT Authorization headers that must never authenticate anyone. `token` is a real one to tamper with. */
function junkAuthorizations (token: string): string[] {
  const [header = '', payload = '', signature = ''] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA')
  return [
    'Bearer', 'Bearer ', 'Bearer a.b.c', 'Basic xyz', 'Basic eHl6OnBhc3M=', 'Digest abc', 'Token abc', '',
    `Bearer ${'A'.repeat(10 * KB)}`, 'x'.repeat(10 * KB),
    `Bearer ${header}.${payload}.${flipped}`,
    `Bearer ${base64url({ alg: 'none', typ: 'at+jwt' })}.${base64url({ ...claims, role: 'admin', sub: '1' })}.`,
    `Bearer ${header}.${base64url({ ...claims, role: 'admin', sub: '1' })}.${signature}`,
    `Bearer ${token}.extra`,
    `Bearer ${token} ${token}`,
    `Basic ${token}`
  ]
}

/** customer, admin: their own full tokens; client, narrowed: a grant's token (a client's, a person's narrowed login). */
type Who = 'customer' | 'admin' | 'client' | 'narrowed' | 'none' | 'junk'
const PEOPLE = ['customer', 'admin'] as const
/** The clients whose tokens the fuzzer sends (spare and dormant are only targets). */
const CLIENT_HOLDERS = ['full', 'warehouse'] as const

/** Who sent a request with a token that is valid, and what that token may do. */
interface Caller {
  label: string
  scopes: ReadonlySet<string>
  /** A person's id; unset for a client. */
  userId?: number
}

/** Whether these scopes allow the operation: every scope of one of its alternatives (a public one: always). */
const allows = (operation: Operation, scopes: ReadonlySet<string>) => !operation.secured || operation.scopes.some((alternative) => alternative.every((scope) => scopes.has(scope)))

interface PlannedRequest {
  operation: Operation
  kind: string
  who: Who
  /** Index into junkAuthorizations, when who is 'junk'. */
  junk: number
  /** Whose token, of which scopes, when who is 'client' or 'narrowed'. */
  grant?: Grant
  url: string
  headers: Record<string, string>
  payload?: string
  /** What the document forbids in this request: when not empty, no 2xx may come back. */
  forbidden: string[]
  /** Only documented parameters, a declared media type, nothing the document forbids: the server must not call it invalid. */
  pristine: boolean
  /** Statuses the request must get, when the contract pins them (a 70 KB body is 413). */
  expect?: { statuses: number[], why: string }
  /** What the contract says of the answer's body, beyond its schema. */
  verify?: (status: number, body: unknown) => string[]
}

/** One client authentication at /auth/token or /auth/introspect, before the world's tokens and secrets are filled in. */
interface ClientAuthRecipe {
  client: FuzzClient['name'] | 'unknown'
  secret: 'right' | 'wrong' | 'another client\'s'
  /** basic: client_secret_basic; post: client_secret_post; both: Basic and client_secret in the body. */
  method: 'basic' | 'post' | 'both' | 'none'
  mediaType: string
  /** token endpoint: the `scope` asked for. */
  scope?: string[]
  /** introspection: which token. */
  token: 'missing' | 'junk' | 'retired' | 'customer' | 'admin' | { grant: Grant, refresh: boolean }
  hint?: string
}

/** RFC 6749 §2.3.1: the Basic header's id and secret are form-urlencoded first. */
const formEncoded = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)

const oauthError = (body: unknown, error: string) => (isRecord(body) && body.error === error ? [] : [`error ${JSON.stringify(isRecord(body) ? body.error : body)}, not ${error}`])

/** Whether a request authenticated with HTTP Basic: a Basic header with something in it (Swagger UI's empty `Basic Og==` is nothing). */
function sentBasic (authorization: string | undefined): boolean {
  if (authorization === undefined || !/^Basic\s/i.test(authorization)) return false
  const credentials = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization)?.[1]
  return credentials === undefined || Buffer.from(credentials, 'base64').toString() !== ':'
}

interface Violation {
  operation: string
  request: string
  who: string
  kind: string
  status: number
  problem: string
  body: string
}

t.comment(`fuzz seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_RUNS=${RUNS} npx tap test/fuzz/openapi-fuzz.test.ts)`)

t.test('every operation of the live OpenAPI document holds under valid and hostile input', { timeout: 240_000 }, async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT: '1000000', LOGIN_MAX_FAILURES: '1000000' })
  const document = app.swagger() as unknown as OpenApiDocument
  const components = document.components?.schemas ?? {}
  const resolve = componentResolver(components)
  const operations = operationsOf(document)
  t.ok(operations.length > 0, `the document has ${operations.length} operations`)
  t.ok(components.Error, 'the document has the Error schema')
  const errorSchema = dereference(components.Error ?? {}, resolve) as JsonSchema

  const world = await FuzzWorld.create(app)
  const fuzzer = new Fuzzer(app, world, resolve, errorSchema)

  // Reads first, then writes, then deletes; deleting users last of all, as it ends sessions.
  const rank = (op: Operation) => (op.method === 'GET' ? 0 : op.method === 'DELETE' ? 2 : 1) + (op.path.startsWith('/users') ? 0.5 : 0)
  const ordered = [...operations].sort((a, b) => rank(a) - rank(b))
  const started = Date.now()
  for (const [index, operation] of ordered.entries()) {
    await fuzzer.fuzz(operation, seed + index)
  }
  await fuzzer.probeUndeclared(document)
  const seconds = (Date.now() - started) / 1000

  // Nothing anyone sent may have reached Object.prototype.
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, 'Object.prototype is not polluted')

  const { sent, statuses, violations } = fuzzer
  t.comment(`fuzz: ${sent} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`)
  t.comment(`fuzz: principals restored ${Object.values(world.principals).map((p) => `${p.name} ×${p.repairs}`).join(', ')}; clients restored ${Object.values(world.clients).map((c) => `${c.name} ×${c.repairs}`).join(', ')}`)
  t.comment(`fuzz: requests by caller ${JSON.stringify(Object.fromEntries(fuzzer.callers))}; ${fuzzer.grantsMinted} distinct grants, ${world.mints} tokens got for them`)
  for (const line of fuzzer.perOperation()) t.comment(line)
  const fiveHundreds = violations.filter((v) => v.status >= 500).length
  t.comment(`fuzz: ${fiveHundreds} answers were 5xx, ${violations.length} violations in all`)
  t.ok(sent >= 2000, `${sent} requests sent (at least 2,000)`)
  let where = ''
  if (violations.length > 0) {
    const report = path.join(os.tmpdir(), `openapi-fuzz-${seed}.json`)
    fs.writeFileSync(report, JSON.stringify(violations, null, 2))
    where = `; the list is above, every one of them in ${report}`
    t.comment(`fuzz violations, by kind (seed ${seed}):\n${summarise(violations)}`)
  }
  t.equal(violations.length, 0, `no violations (seed ${seed}${where})`)
})

/** One line per kind of violation (operation, status, problem), with a count and the first example. */
function summarise (violations: Violation[]): string {
  const groups = new Map<string, Violation[]>()
  for (const v of violations) {
    const key = `${v.operation} → ${v.status}: ${v.problem.replace(/\d{3,}/g, 'N')}`
    groups.set(key, [...(groups.get(key) ?? []), v])
  }
  return [...groups].map(([, list]) => {
    const v = list[0] as Violation
    return `- ${v.operation} → ${v.status} ×${list.length}: ${v.problem}\n    e.g. ${v.request.slice(0, 300)} as ${v.who} [${v.kind}]\n    answer: ${v.body.slice(0, 160)}`
  }).join('\n')
}

class Fuzzer {
  sent = 0
  readonly statuses = new Map<number, number>()
  readonly violations: Violation[] = []
  private readonly cursors = new Set<string>()
  /** Clients POST /clients made during the run: path values that exist, and that the world does not need. */
  private readonly createdClients = new Set<string>()
  /** Requests by caller kind ('client full', 'narrowed admin', …). */
  readonly callers = new Map<string, number>()
  private readonly checkedGrants = new Set<string>()
  grantsMinted = 0
  private readonly byOperation = new Map<string, Map<number, number>>()
  private readonly coercing = createAjv({ coerce: true })
  private readonly errorValidator: ValidateFunction
  private readonly oauthValidator: ValidateFunction

  constructor (private readonly app: App, private readonly world: FuzzWorld, private readonly resolve: (ref: string) => JsonSchema, errorSchema: JsonSchema) {
    this.errorValidator = createValidator(errorSchema)
    this.oauthValidator = createValidator(OAUTH_ERROR)
  }

  private readonly sealedSchemas = new WeakMap<JsonSchema, JsonSchema>()
  /** Response bodies are judged strictly: no field the document does not list. */
  private responseValidator (schema: JsonSchema): ValidateFunction {
    let strict = this.sealedSchemas.get(schema)
    if (!strict) this.sealedSchemas.set(schema, strict = sealed(schema) as JsonSchema)
    return createValidator(strict)
  }

  private readonly paramValidators = new WeakMap<Parameter, ValidateFunction>()
  private coercingValidator (param: Parameter): ValidateFunction {
    let validate = this.paramValidators.get(param)
    if (!validate) this.paramValidators.set(param, validate = this.coercing.compile({ type: 'object', properties: { value: param.schema } }))
    return validate
  }

  perOperation (): string[] {
    return [...this.byOperation].map(([operation, statuses]) =>
      `  ${operation}: ${[...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ')}`)
  }

  /** Client ids that exist: the world's and those the run made. */
  private clientIds (): string[] {
    return [...Object.values(this.world.clients).map((client) => client.clientId), ...this.createdClients]
  }

  private get options (): ConvertOptions {
    const { admin, customer, other } = this.world.principals
    const emails = [admin.email, customer.email, other.email]
    const clients = Object.values(this.world.clients)
    // Values that get past the first check, so the deeper code runs too.
    return {
      resolve: this.resolve,
      hints: {
        username: fc.constantFrom(...emails, customer.email.toUpperCase()),
        email: fc.constantFrom(...emails, ` ${customer.email} `),
        password: fc.constant(DEFAULT_PASSWORD),
        current_password: fc.constant(DEFAULT_PASSWORD),
        refresh_token: fc.constantFrom(customer.refreshToken, admin.refreshToken),
        token: fc.constantFrom(customer.refreshToken, customer.accessToken, admin.accessToken, ...this.world.retired.slice(-2)),
        // Contract v2: service clients' ids and secrets (a matching pair by chance), scopes of every kind.
        client_id: fc.constantFrom(...this.clientIds(), 'public'),
        client_secret: fc.constantFrom(...clients.map((client) => client.secret), 'sk_wrong'),
        scope: fc.subarray([...ALL_SCOPES, 'openid', 'admin']).map((scopes) => scopes.join(' ')),
        scopes: fc.subarray([...CLIENT_SCOPES], { minLength: 1 }),
        grant_type: fc.constantFrom('password', 'refresh_token', 'client_credentials', 'authorization_code'),
        token_type_hint: fc.constantFrom('refresh_token', 'access_token'),
        // Cursors this run was handed, as they came and slightly off.
        ...(this.cursors.size > 0 ? { cursor: fc.constantFrom(...[...this.cursors].flatMap(nearCursors)) } : {})
      }
    }
  }

  async fuzz (operation: Operation, operationSeed: number): Promise<void> {
    const random = fc.sample(this.randomRequests(operation, 'random'), { seed: operationSeed, numRuns: RUNS })
    for (const request of random) await this.send([request])
    for (const request of this.hostileRequests(operation)) await this.send([request])
    for (const request of this.faultyRequests(operation, operationSeed + 0xfa17)) await this.send([request])
    // The same valid request several times at once: races between its awaits must not surface as 5xx.
    const bursts = fc.sample(this.randomRequests(operation, 'valid'), { seed: operationSeed + 0x5eed, numRuns: BURSTS })
    for (const request of bursts) await this.send(Array.from({ length: BURST_SIZE }, () => ({ ...request, kind: `burst of ${BURST_SIZE}` })))
    // Service clients authenticating, right and wrong: each built when it is sent, from the world as it is then.
    if (CLIENT_AUTH_PATHS.has(operation.path)) {
      for (const recipe of fc.sample(this.clientAuthRecipes(operation), { seed: operationSeed + 0xc11e, numRuns: RUNS })) {
        await this.send([await this.clientAuthRequest(operation, recipe)])
      }
    }
  }

  /**
   * Every documented path with the methods it does not document: no such route may
   * answer 2xx (the document would be missing an operation), and the refusal is the
   * standard error body.
   */
  async probeUndeclared (document: OpenApiDocument): Promise<void> {
    for (const [template, item] of Object.entries(document.paths)) {
      const url = template.replace(/\{[^}]+\}/g, '1')
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) {
        if (method.toLowerCase() in item) continue
        for (const who of ['customer', 'none'] as const) {
          this.world.replenish()
          const token = who === 'customer' ? this.world.principals.customer.accessToken : undefined
          const res = await this.app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) })
          this.sent++
          this.statuses.set(res.statusCode, (this.statuses.get(res.statusCode) ?? 0) + 1)
          const request: PlannedRequest = { operation: { method, path: template, parameters: [], bodies: {}, bodyRequired: false, secured: false, scopes: [], responses: {} }, kind: 'undocumented method', who, junk: 0, url, headers: {}, forbidden: [], pristine: false }
          let body: unknown
          try {
            body = JSON.parse(res.body)
          } catch {
            body = undefined // judged below: not the error body
          }
          if (res.statusCode >= 500) this.note(request, res.statusCode, `server error ${res.statusCode}`, res.body)
          else if (res.statusCode < 400) this.note(request, res.statusCode, 'a method the document does not list answered as if it existed', res.body)
          else if (!this.errorValidator(body)) this.note(request, res.statusCode, `${res.statusCode} without the standard error body`, res.body)
          if (res.statusCode < 300 && method !== 'GET') await this.world.heal()
        }
      }
    }
  }

  // ---- what to send ----

  /**
   * Requests the document accepts but for one thing — one body field, one parameter —
   * each target getting its own share, from a caller who may call the operation.
   */
  private faultyRequests (operation: Operation, seed: number): PlannedRequest[] {
    const [firstBody] = Object.values(operation.bodies)
    const targets = [
      ...(firstBody ? faultTargets(firstBody, this.options).map((field) => `body:${field}`) : []),
      ...operation.parameters.map((p) => `${p.in}:${p.name}`)
    ]
    const perTarget = Math.max(2, Math.ceil(RUNS / 4))
    return targets.flatMap((target, i) => fc.sample(this.randomRequests(operation, 'valid', target), { seed: seed + i, numRuns: perTarget }))
  }

  /**
   * 'random': anything, valid or broken, by anyone. 'valid': a customer's or admin's request
   * the document accepts, every header parameter set — but `fault` ('body:name', 'body:*', 'query:limit') broken.
   */
  private randomRequests (operation: Operation, mode: 'random' | 'valid', fault?: string): fc.Arbitrary<PlannedRequest> {
    const valid = mode === 'valid'
    const options = this.options
    const pathParams = operation.parameters.filter((p) => p.in === 'path')
    const queryParams = operation.parameters.filter((p) => p.in === 'query')
    const headerParams = operation.parameters.filter((p) => p.in === 'header')
    const mediaTypes = Object.keys(operation.bodies)

    const asText = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value) ?? '')
    // Mostly good ids (the junk ones also get a fixed pass of their own below).
    const brokenPath = (p: Parameter) => fc.oneof(fc.constantFrom(...JUNK_PATH_VALUES), brokenArbitrary(p.schema, options).map((v) => encodeURIComponent(asText(v))))
    // A client id is a string: mostly one that exists (the world's, which it mends, or one the
    // run made), otherwise anything its schema takes.
    const worldClientIds = Object.values(this.world.clients).map((client) => client.clientId)
    const createdClientIds = [...this.createdClients]
    const goodPath = (p: Parameter) => {
      const any = validArbitrary(p.schema, options).map((v) => encodeURIComponent(asText(v)))
      if (p.name !== 'client_id') return any
      return fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(...worldClientIds) },
        ...(createdClientIds.length > 0 ? [{ weight: 1, arbitrary: fc.constantFrom(...createdClientIds) }] : []),
        { weight: 2, arbitrary: any }
      )
    }
    const pathValue = (p: Parameter) => fault === `path:${p.name}`
      ? brokenPath(p)
      : valid
        ? goodPath(p)
        : fc.oneof(
          { weight: 6, arbitrary: goodPath(p) },
          { weight: 1, arbitrary: fc.constantFrom(...JUNK_PATH_VALUES) },
          { weight: 1, arbitrary: brokenArbitrary(p.schema, options).map((v) => encodeURIComponent(asText(v))) }
        )
    const validPairs = (params: Parameter[], all: boolean) => fc.tuple(...params.map((p) => {
      const value = fault === `${p.in}:${p.name}` ? brokenArbitrary(p.schema, options).map(asText) : hinted(p.name, p.schema, options, validArbitrary(p.schema, options)).map(asText)
      return p.required || all || fault === `${p.in}:${p.name}` ? value : fc.option(value, { nil: undefined, freq: 2 })
    })).map((values) => values.flatMap((value, i): Array<[string, string]> => (value === undefined ? [] : [[(params[i] as Parameter).name, value]])))
    const paramPairs = (params: Parameter[], junkNames: string[]) => fc.oneof(
      { weight: 3, arbitrary: validPairs(params, false) },
      {
        weight: 2,
        arbitrary: fc.array(fc.tuple(
          fc.constantFrom(...params.map((p) => p.name), ...junkNames),
          fc.oneof(...params.map((p) => brokenArbitrary(p.schema, options).map(asText)), fc.constantFrom(...JUNK_CURSORS), fc.string({ maxLength: 20 }))
        ), { maxLength: 4 })
      }
    )
    const body = mediaTypes.length === 0
      ? fc.constant(undefined)
      : fc.constantFrom(...mediaTypes).chain((mediaType) => {
        const schema = operation.bodies[mediaType] as JsonSchema
        return (fault?.startsWith('body:')
          ? brokenFieldArbitrary(schema, options, fault.slice('body:'.length))
          : valid
            ? validArbitrary(schema, options)
            : fc.oneof(
              { weight: 1, arbitrary: validArbitrary(schema, options) },
              { weight: 1, arbitrary: brokenArbitrary(schema, options) }
            )).map((value) => ({ mediaType, value }))
      })
    const contentType = valid
      ? fc.constant('declared')
      : fc.oneof(
        { weight: 8, arbitrary: fc.constant('declared') },
        { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'none') }
      )
    return fc.record({
      caller: this.callerArbitrary(operation, valid),
      junk: fc.nat({ max: JUNK_AUTH_COUNT - 1 }),
      path: fc.tuple(...pathParams.map(pathValue)),
      query: valid ? validPairs(queryParams, false) : paramPairs(queryParams, ['junk', '__proto__', 'constructor']),
      rawQuery: valid ? fc.constant(undefined) : fc.option(fc.constantFrom(...RAW_QUERIES), { freq: 6, nil: undefined }),
      headers: valid ? validPairs(headerParams, true) : paramPairs(headerParams, ['x-junk']),
      body,
      contentType
    }).map((choice) => {
      // An empty segment would reach another route (/orders/ is the list): send a blank instead.
      // A dot segment ('.', '..', '%2E') is resolved away by any URL client (WHATWG): it gets a tail.
      const segments = choice.path.map((value) => (value === '' ? '%20' : /^(?:\.|%2e){1,2}$/i.test(value) ? `${value}_` : value))
      let i = 0
      const url = operation.path.replace(/\{[^}]+\}/g, () => segments[i++] ?? '1')
      const query = [...choice.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`), ...(choice.rawQuery ? [choice.rawQuery] : [])].join('&')
      const headers = Object.fromEntries(choice.headers.map(([k, v]) => [k.toLowerCase(), latin1(v)]))
      const forbidden = [
        ...this.paramProblems(operation, 'path', pathParams.map((p, index): [string, string] => [p.name, segments[index] ?? ''])),
        ...this.paramProblems(operation, 'query', queryPairs(query)),
        ...this.paramProblems(operation, 'header', Object.entries(headers))
      ]
      const documented = (place: Parameter['in'], name: string) => operation.parameters.some((p) => p.in === place && p.name === name)
      const request: PlannedRequest = {
        operation,
        kind: 'random',
        who: choice.caller.who,
        grant: choice.caller.grant,
        junk: choice.junk,
        url: query ? `${url}?${query}` : url,
        headers,
        forbidden,
        pristine: choice.rawQuery === undefined && choice.contentType === 'declared' &&
          choice.query.every(([name]) => documented('query', name)) && choice.headers.every(([name]) => documented('header', name.toLowerCase()))
      }
      if (choice.body) {
        const declared = choice.contentType === 'declared'
        const mediaType = declared ? choice.body.mediaType : choice.contentType
        request.kind = `random ${declared ? choice.body.mediaType : `body as ${choice.contentType}`}`
        request.payload = encodeBody(choice.body.value, choice.body.mediaType)
        if (mediaType !== 'none') request.headers['content-type'] = mediaType
      } else if (operation.bodyRequired) {
        request.forbidden.push('the required request body is missing')
      }
      request.forbidden.push(...this.bodyProblems(operation, request))
      request.pristine &&= request.forbidden.length === 0
      if (fault) request.kind = `one fault, in ${fault}`
      return request
    })
  }

  /** The scopes a grant's holder may hold: a role's (docs/API.md's table), or what the client was registered with. */
  private holderScopes (holder: Grant['holder']): readonly Scope[] {
    return holder === 'customer' || holder === 'admin' ? ROLE_SCOPES[holder] : this.world.clients[holder].scopes
  }

  /**
   * 'random': anyone, with any token, scopes or none. 'valid': only callers whose token
   * allows the operation: a person's full token, or a grant holding one alternative.
   */
  private callerArbitrary (operation: Operation, valid: boolean): fc.Arbitrary<{ who: Who, grant?: Grant }> {
    const anyGrant = (holder: Grant['holder']) => fc.subarray([...this.holderScopes(holder)], { minLength: 1 }).map((scopes): Grant => ({ holder, scopes }))
    if (!valid) {
      return fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom<{ who: Who }>({ who: 'customer' }, { who: 'admin' }) },
        { weight: 1, arbitrary: fc.constantFrom(...CLIENT_HOLDERS).chain(anyGrant).map((grant) => ({ who: 'client' as const, grant })) },
        { weight: 1, arbitrary: fc.constantFrom(...PEOPLE).chain(anyGrant).map((grant) => ({ who: 'narrowed' as const, grant })) },
        { weight: 2, arbitrary: fc.constantFrom<{ who: Who }>({ who: 'none' }, { who: 'junk' }) }
      )
    }
    // A grant that allows it: one alternative the holder may hold, and any other scopes of the holder's.
    const allowingGrant = (holder: Grant['holder']) => {
      const held = this.holderScopes(holder)
      const alternatives = operation.secured ? operation.scopes.filter((alternative) => alternative.every((scope) => held.includes(scope as Scope))) : [[]]
      if (alternatives.length === 0) return undefined
      return fc.tuple(fc.constantFrom(...alternatives), fc.subarray([...held], { minLength: 1 }))
        .map(([alternative, more]): Grant => ({ holder, scopes: ALL_SCOPES.filter((scope) => alternative.includes(scope) || more.includes(scope)) }))
    }
    const choices: Array<fc.WeightedArbitrary<{ who: Who, grant?: Grant }>> = []
    for (const who of PEOPLE) if (allows(operation, new Set(ROLE_SCOPES[who]))) choices.push({ weight: 2, arbitrary: fc.constant({ who }) })
    const clientGrants = CLIENT_HOLDERS.map(allowingGrant).filter((grant) => grant !== undefined)
    if (clientGrants.length > 0) choices.push({ weight: 1, arbitrary: fc.oneof(...clientGrants).map((grant) => ({ who: 'client' as const, grant })) })
    const personGrants = PEOPLE.map(allowingGrant).filter((grant) => grant !== undefined)
    if (personGrants.length > 0) choices.push({ weight: 1, arbitrary: fc.oneof(...personGrants).map((grant) => ({ who: 'narrowed' as const, grant })) })
    return fc.oneof(...choices)
  }

  /** What a client authentication at /auth/token (client_credentials) or /auth/introspect tries. */
  private clientAuthRecipes (operation: Operation): fc.Arbitrary<ClientAuthRecipe> {
    const grant = fc.constantFrom<Grant['holder']>(...PEOPLE, ...CLIENT_HOLDERS)
      .chain((holder) => fc.subarray([...this.holderScopes(holder)], { minLength: 1 }).map((scopes): Grant => ({ holder, scopes })))
    return fc.record({
      client: fc.constantFrom<ClientAuthRecipe['client']>('full', 'warehouse', 'spare', 'dormant', 'unknown'),
      secret: fc.constantFrom<ClientAuthRecipe['secret']>('right', 'right', 'right', 'wrong', 'another client\'s'),
      method: fc.constantFrom<ClientAuthRecipe['method']>('basic', 'basic', 'post', 'post', 'both', 'none'),
      mediaType: fc.constantFrom(...Object.keys(operation.bodies)),
      scope: fc.option(fc.subarray([...ALL_SCOPES, 'no:such-scope']), { nil: undefined, freq: 3 }),
      token: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom<ClientAuthRecipe['token']>('missing', 'junk', 'retired', 'customer', 'admin') },
        { weight: 4, arbitrary: fc.tuple(grant, fc.boolean()).map(([grant, refresh]): ClientAuthRecipe['token'] => ({ grant, refresh })) }
      ),
      hint: fc.option(fc.constantFrom('access_token', 'refresh_token', 'something_else'), { nil: undefined })
    })
  }

  /**
   * A client authentication, made from the world as it is now, with the answer the
   * contract gives it: both methods at once → 400 invalid_request; none, an unknown,
   * disabled or wrong one → 401 invalid_client; otherwise the token with the scopes
   * asked for that the client holds (none left: 400 invalid_scope), or the introspection
   * of the token: active with its effective scopes, or only `active: false`.
   */
  private async clientAuthRequest (operation: Operation, recipe: ClientAuthRecipe): Promise<PlannedRequest> {
    const { clients, principals } = this.world
    const client = recipe.client === 'unknown' ? undefined : clients[recipe.client]
    const clientId = client?.clientId ?? 'svc_00000000000000000000'
    const someoneElse = client === clients.full ? clients.spare : clients.full
    const secret = recipe.secret === 'wrong' ? 'sk_wrong' : recipe.secret === 'right' ? (client ?? clients.full).secret : someoneElse.secret
    const introspection = operation.path === '/auth/introspect'
    const fields: Record<string, string> = introspection ? {} : { grant_type: 'client_credentials' }
    if (!introspection && recipe.scope !== undefined) fields.scope = recipe.scope.join(' ')

    // The token to introspect, and what introspecting it must say.
    let expected: Record<string, unknown> | undefined
    if (introspection && recipe.token !== 'missing') {
      const token = recipe.token
      if (token === 'junk' || token === 'retired') {
        const retired = this.world.retired.at(-1)
        fields.token = token === 'retired' && retired !== undefined ? retired : `${principals.customer.accessToken.slice(0, -4)}AAAA`
        expected = { active: false }
      } else if (token === 'customer' || token === 'admin') {
        const principal = principals[token]
        fields.token = principal.accessToken
        expected = { active: true, scope: scopeString(ROLE_SCOPES[principal.role]), sub: String(principal.id), client_id: 'public', token_type: 'Bearer' }
      } else {
        const minted = await this.mint(token.grant, operation)
        const person = token.grant.holder === 'customer' || token.grant.holder === 'admin' ? principals[token.grant.holder] : undefined
        const refresh = token.refresh && minted?.refreshToken !== undefined
        fields.token = (refresh ? minted.refreshToken : minted?.accessToken) ?? 'no token'
        const sub = person ? String(person.id) : clients[token.grant.holder as FuzzClient['name']].clientId
        expected = minted && { active: true, scope: scopeString(token.grant.scopes), sub, client_id: person ? 'public' : sub, token_type: refresh ? 'refresh_token' : 'Bearer' }
      }
      if (recipe.hint !== undefined) fields.token_type_hint = recipe.hint
    }

    const headers: Record<string, string> = { 'content-type': recipe.mediaType }
    const basic = recipe.method === 'basic' || recipe.method === 'both'
    if (basic) headers.authorization = `Basic ${Buffer.from(`${formEncoded(clientId)}:${formEncoded(secret)}`).toString('base64')}`
    if (recipe.method === 'post') Object.assign(fields, { client_id: clientId, client_secret: secret })
    if (recipe.method === 'both') fields.client_secret = secret

    const authenticated = recipe.method !== 'none' && client !== undefined && !client.disabled && secret === client.secret
    let expect: PlannedRequest['expect']
    let verify: PlannedRequest['verify']
    if (recipe.method === 'both') {
      expect = { statuses: [400], why: 'a client authenticates one way: Basic or client_secret in the body, never both (400 invalid_request)' }
      verify = (_status, body) => oauthError(body, 'invalid_request')
    } else if (!authenticated) {
      expect = { statuses: [401], why: `${recipe.method === 'none' ? 'no client authentication' : `the ${recipe.secret} secret of ${client?.disabled ? 'a disabled' : client ? 'an enabled' : 'an unknown'} client`} is 401 invalid_client` }
      verify = (_status, body) => oauthError(body, 'invalid_client')
    } else if (!introspection) {
      const asked = recipe.scope?.filter((scope) => scope !== '')
      const granted = asked === undefined || asked.length === 0 ? client.scopes : client.scopes.filter((scope) => asked.includes(scope))
      if (granted.length === 0) {
        expect = { statuses: [400], why: `none of "${fields.scope ?? ''}" may be granted to a client of "${client.scopes.join(' ')}" (400 invalid_scope)` }
        verify = (_status, body) => oauthError(body, 'invalid_scope')
      } else {
        expect = { statuses: [200], why: `the ${client.name} client authenticated (${recipe.method})` }
        verify = (status, body) => {
          if (status !== 200 || !isRecord(body)) return []
          return [
            ...(body.scope === scopeString(granted) ? [] : [`granted scope "${String(body.scope)}", not "${scopeString(granted)}"`]),
            ...('refresh_token' in body ? ['a client_credentials answer carries a refresh_token'] : [])
          ]
        }
      }
    } else if (fields.token === undefined) {
      expect = { statuses: [400], why: 'introspection without a token is 400 invalid_request' }
      verify = (_status, body) => oauthError(body, 'invalid_request')
    } else if (expected) {
      expect = { statuses: [200], why: `the ${client.name} client authenticated (${recipe.method})` }
      verify = (status, body) => {
        if (status !== 200 || !isRecord(body)) return []
        if (expected.active === false) return Object.keys(body).length === 1 && body.active === false ? [] : [`a token that is refused now was introspected as ${JSON.stringify(body).slice(0, 120)}`]
        return Object.entries(expected).filter(([field, value]) => body[field] !== value)
          .map(([field, value]) => `introspection says ${field} ${JSON.stringify(body[field])}, not ${JSON.stringify(value)}`)
      }
    }
    const token = recipe.token === 'missing' || !introspection ? '' : typeof recipe.token === 'string' ? `, ${recipe.token}'s token` : `, ${recipe.token.grant.holder}'s ${recipe.token.refresh ? 'refresh' : 'access'} token [${scopeString(recipe.token.grant.scopes)}]`
    const request: PlannedRequest = {
      operation,
      kind: `client authentication: ${recipe.method}, the ${recipe.secret} secret of client ${recipe.client}${token}`,
      who: 'none',
      junk: 0,
      url: operation.path,
      headers,
      payload: encodeBody(fields, recipe.mediaType),
      forbidden: [],
      pristine: true,
      expect,
      verify
    }
    request.forbidden.push(...this.bodyProblems(operation, request))
    return request
  }

  /** A grant's token, once; a token the service would not give, or gave with other scopes, is a violation. */
  private async mint (grant: Grant, operation: Operation): Promise<Minted | undefined> {
    const key = `${grant.holder}|${scopeString(grant.scopes)}`
    const where = { operation, kind: 'getting a token for a grant', who: 'none' as const, junk: 0, url: '/auth/token', headers: {}, forbidden: [], pristine: false }
    try {
      const minted = await this.world.tokenFor(grant)
      if (!this.checkedGrants.has(key)) {
        this.checkedGrants.add(key)
        this.grantsMinted++
        if (minted.granted !== scopeString(grant.scopes)) this.note(where, 200, `asked ${grant.holder} for "${scopeString(grant.scopes)}", granted "${minted.granted}"`, '')
      }
      return minted
    } catch (err) {
      this.note(where, 0, (err as Error).message, '')
      return undefined
    }
  }

  /** Fixed hostile requests, each as customer, admin and with no token. */
  private hostileRequests (operation: Operation): PlannedRequest[] {
    const url = operation.path.replace(/\{[^}]+\}/g, '1')
    const requests: PlannedRequest[] = []
    const add = (who: Who, kind: string, headers: Record<string, string>, payload?: string, expect?: PlannedRequest['expect'], target = url, junk = 0) => {
      const request: PlannedRequest = { operation, kind, who, junk, url: target, headers, payload, expect, forbidden: [], pristine: false }
      if (target !== url) request.forbidden.push(...this.paramProblems(operation, 'path', pathValuesOf(operation.path, target)))
      request.forbidden.push(...this.paramProblems(operation, 'header', Object.entries(headers)))
      if (Object.keys(operation.bodies).length > 0) request.forbidden.push(...this.bodyProblems(operation, request))
      requests.push(request)
    }
    const json = { 'content-type': 'application/json' }
    const principals: Who[] = ['customer', 'admin', 'none']

    // Junk ids in every path parameter.
    if (operation.path.includes('{')) {
      for (const junk of JUNK_PATH_VALUES) {
        for (const who of principals) add(who, `junk id ${junk}`, {}, undefined, undefined, operation.path.replace(/\{[^}]+\}/g, junk))
      }
    }
    // Tokens that are not tokens, and headers nobody should send.
    for (let junk = 0; junk < JUNK_AUTH_COUNT; junk++) add('junk', 'junk authorization', {}, undefined, undefined, url, junk)
    for (const who of ['customer', 'none'] as const) {
      add(who, '10 KB header', { 'x-filler': 'f'.repeat(10 * KB) })
      add(who, '10 KB request id', { 'x-request-id': 'r'.repeat(10 * KB) })
      add(who, '10 KB idempotency key', { 'idempotency-key': 'k'.repeat(10 * KB) })
      add(who, 'odd accept', { accept: 'application/xml', 'accept-encoding': 'gzip, br', 'x-forwarded-for': '1.2.3.4, junk' })
    }

    if (Object.keys(operation.bodies).length === 0) {
      // A body where none is expected must not hurt either.
      add('customer', 'unexpected body', json, '{"unexpected":true}')
      add('customer', 'unexpected malformed body', json, '{"unexpected":')
      return requests
    }
    const formDeclared = 'application/x-www-form-urlencoded' in operation.bodies
    const huge = { statuses: [413], why: 'a body over 64 KB is 413' }
    for (const who of principals) {
      add(who, 'deep array', json, `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`)
      add(who, 'deep object', json, `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`)
      add(who, 'deepest array under the size limit', json, `{"a":${'['.repeat(32_000)}${']'.repeat(32_000)}}`)
      add(who, '70 KB JSON body', json, JSON.stringify({ filler: 'x'.repeat(70 * KB) }), huge)
      add(who, '70 KB form body', { 'content-type': 'application/x-www-form-urlencoded' }, `filler=${'x'.repeat(70 * KB)}`,
        formDeclared ? huge : { statuses: [413, 415], why: 'an oversized body of an undeclared media type is 413 or 415' })
      add(who, '__proto__ key', json, '{"__proto__":{"polluted":true,"isAdmin":true}}')
      add(who, 'constructor key', json, '{"constructor":{"prototype":{"polluted":true}}}')
      for (const malformed of ['{', '{"a":', '[1,]', 'nul', '{"a":1}{"b":2}', '"\\ud800"', '\u0000', '{"a":1,}', "{'a':1}"]) {
        add(who, `malformed JSON ${JSON.stringify(malformed)}`, json, malformed)
      }
      add(who, 'empty JSON body', json, '')
      add(who, 'text/plain body', { 'content-type': 'text/plain' }, '{"a":1}')
      add(who, 'XML body', { 'content-type': 'application/xml' }, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
      add(who, 'multipart without boundary', { 'content-type': 'multipart/form-data' }, '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--')
      add(who, 'JSON in UTF-16', { 'content-type': 'application/json; charset=utf-16' }, '{"a":1}')
      add(who, 'body without a content type', {}, '{"a":1}')
      add(who, 'short content-length', { ...json, 'content-length': '3' }, '{"a":1}')
      add(who, 'long content-length', { ...json, 'content-length': '999' }, '{"a":1}')
      add(who, 'content type junk', { 'content-type': ';;;' }, '{"a":1}')
    }
    return requests
  }

  /** What the document's parameter schemas say against these values (read as the server reads them: coerced). */
  private paramProblems (operation: Operation, place: 'path' | 'query' | 'header', pairs: Array<[string, string]>): string[] {
    const params = operation.parameters.filter((p) => p.in === place)
    if (params.length === 0) return []
    const values: Record<string, unknown> = {}
    for (const [rawName, rawValue] of pairs) {
      const name = place === 'header' ? rawName.toLowerCase() : rawName
      if (!params.some((p) => p.name === name)) continue
      let value: string
      try {
        value = place === 'header' ? rawValue : decodeURIComponent(rawValue.replaceAll('+', place === 'query' ? ' ' : '+'))
      } catch {
        // The router refuses such a path; a query parser may keep the text as it came.
        if (place === 'path') return [`${place} parameter ${name} is not valid percent-encoding`]
        value = rawValue
      }
      const previous = values[name]
      values[name] = previous === undefined ? value : [previous, value].flat()
    }
    const problems: string[] = []
    for (const p of params) {
      const value = values[p.name]
      if (value === undefined) {
        if (p.required) problems.push(`${place} parameter ${p.name} is missing`)
        continue
      }
      const holder = { value }
      const validate = this.coercingValidator(p)
      if (!validate(holder)) problems.push(`${place} parameter ${p.name}=${JSON.stringify(value).slice(0, 40)} breaks its schema`)
    }
    return problems
  }

  /** What the document's request body schemas say against this payload and media type. */
  private bodyProblems (operation: Operation, request: PlannedRequest): string[] {
    if (Object.keys(operation.bodies).length === 0) return []
    if (request.payload === undefined) return operation.bodyRequired ? ['the required request body is missing'] : []
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
    const schema = operation.bodies[mediaType]
    if (!schema) return [`media type ${JSON.stringify(request.headers['content-type'] ?? 'none')} is not declared`]
    let value: unknown
    try {
      value = mediaType === 'application/x-www-form-urlencoded' ? formObject(request.payload) : JSON.parse(request.payload)
    } catch {
      return ['the body is not valid JSON']
    }
    const validate = createValidator(schema)
    return validate(value) ? [] : [`the body breaks its schema (${validate.errors?.[0]?.instancePath ?? ''} ${validate.errors?.[0]?.message ?? ''})`]
  }

  // ---- sending and judging ----

  /** Sends the requests at once (one, or a burst), judges every answer, then mends what they broke. */
  private async send (requests: PlannedRequest[]): Promise<void> {
    this.world.replenish()
    const concurrent = requests.length > 1
    // Tokens first, one by one (a burst's copies share theirs), then the requests at once.
    const prepared: Array<{ request: PlannedRequest, caller?: Caller, headers: Record<string, string> }> = []
    for (const request of requests) {
      const headers = { ...request.headers }
      let caller: Caller | undefined
      if (request.who === 'customer' || request.who === 'admin') {
        const principal = this.world.principals[request.who]
        headers.authorization = `Bearer ${principal.accessToken}`
        caller = { label: `the ${principal.name}`, scopes: new Set(ROLE_SCOPES[principal.role]), userId: principal.id }
      } else if ((request.who === 'client' || request.who === 'narrowed') && request.grant) {
        const { grant } = request
        const minted = await this.mint(grant, request.operation)
        if (!minted) continue
        headers.authorization = `Bearer ${minted.accessToken}`
        const person = grant.holder === 'customer' || grant.holder === 'admin' ? this.world.principals[grant.holder] : undefined
        caller = { label: `${person ? 'the narrowed' : 'client'} ${grant.holder}'s token [${scopeString(grant.scopes)}]`, scopes: new Set(grant.scopes), userId: person?.id }
      }
      if (request.who === 'junk') headers.authorization = junkAuthorizations(this.world.principals.customer.accessToken)[request.junk % JUNK_AUTH_COUNT] ?? 'Bearer'
      prepared.push({ request, caller, headers })
    }
    const answers = await Promise.all(prepared.map(async ({ request, caller, headers }) => {
      try {
        const res = await this.app.inject({ method: request.operation.method as 'GET', url: request.url, headers, ...(request.payload === undefined ? {} : { payload: request.payload }) })
        return { request, caller, headers, res }
      } catch (err) {
        this.note(request, 0, `inject threw: ${(err as Error).message}`, '')
        return undefined
      }
    }))
    let mend = false
    for (const answer of answers) {
      if (!answer) continue
      const { request, caller, headers, res } = answer
      const callerKind = request.grant ? `${request.who} ${request.grant.holder}` : request.who
      this.callers.set(callerKind, (this.callers.get(callerKind) ?? 0) + 1)
      const label = `${request.operation.method} ${request.operation.path}`
      this.sent++
      this.statuses.set(res.statusCode, (this.statuses.get(res.statusCode) ?? 0) + 1)
      const counts = this.byOperation.get(label) ?? new Map<number, number>()
      counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1)
      this.byOperation.set(label, counts)
      for (const problem of this.judge(request, res, caller, headers.authorization, concurrent)) this.note(request, res.statusCode, problem, res.body)
      // A public write may end sessions even when it fails (a reused refresh token revokes its family).
      mend ||= (request.operation.method !== 'GET' && (res.statusCode < 300 || !request.operation.secured)) || res.statusCode === 401
    }
    // Whatever these requests ended (a user, a session, a role), the next one starts whole again.
    if (mend) await this.world.heal()
  }

  private judge (request: PlannedRequest, res: LightMyRequestResponse, caller: Caller | undefined, authorization: string | undefined, concurrent: boolean): string[] {
    const { operation } = request
    const status = res.statusCode
    const problems: string[] = []
    if (status >= 500) problems.push(`server error ${status}`)

    let body: unknown
    let parsed = false
    if (res.body !== '') {
      try {
        body = JSON.parse(res.body)
        parsed = true
      } catch {
        problems.push('the body is not JSON')
      }
    }

    if (isRecord(body) && typeof body.next_cursor === 'string' && this.cursors.size < 50) this.cursors.add(body.next_cursor)
    if (operation.path === '/clients' && status === 201 && isRecord(body) && typeof body.client_id === 'string' && this.createdClients.size < 20) this.createdClients.add(body.client_id)
    const declared = declaredResponse(operation, status)
    const oauth = OAUTH_PATHS.has(operation.path) && status === 400
    if (declared?.schema) {
      const validate = this.responseValidator(declared.schema)
      if (!parsed) problems.push(`declared ${status} has a body schema, but no JSON body came`)
      else if (!validate(body)) problems.push(`body breaks the declared ${status} schema: ${validate.errors?.[0]?.instancePath || '/'} ${validate.errors?.[0]?.message ?? ''}`)
    } else if (declared) {
      if (res.body !== '') problems.push(`declared ${status} has no body, but one came`)
    } else if (status >= 400 && status < 500) {
      const validate = oauth ? this.oauthValidator : this.errorValidator
      if (!parsed || !validate(body)) problems.push(`undeclared ${status} without the ${oauth ? 'RFC 6749' : 'standard error'} body`)
    } else if (status < 400) {
      problems.push(`status ${status} is not declared`)
    }
    if (parsed && status >= 400 && isRecord(body) && 'statusCode' in body) {
      if (body.statusCode !== status) problems.push(`error body says statusCode ${String(body.statusCode)}`)
      if (body.error !== STATUS_CODES[status]) problems.push(`error body says error ${JSON.stringify(body.error)}, not ${JSON.stringify(STATUS_CODES[status])}`)
    }
    // Every answer, errors of the router included, carries the request id and the security headers.
    const missing = ['x-request-id', 'x-content-type-options'].filter((name) => res.headers[name] === undefined)
    if (missing.length > 0) problems.push(`no ${missing.join(' or ')} header`)

    // Who may call what: the document's `security`, its scopes included.
    const unauthenticated = request.who === 'none' || request.who === 'junk'
    const challenge = String(res.headers['www-authenticate'] ?? '')
    const clientAuth = CLIENT_AUTH_PATHS.has(operation.path)
    if (status === 401 && clientAuth) {
      // A service client's failed authentication: invalid_client, challenged with Basic exactly when Basic was used.
      problems.push(...oauthError(body, 'invalid_client'))
      if (sentBasic(authorization) && !/^Basic\b/.test(challenge)) problems.push('invalid_client after Basic authentication without WWW-Authenticate: Basic')
      if (!sentBasic(authorization) && challenge !== '') problems.push(`invalid_client without Basic authentication, yet WWW-Authenticate: ${challenge}`)
    } else if (status === 401 && !/^Bearer\b/.test(challenge)) {
      problems.push('401 without WWW-Authenticate: Bearer')
    }
    const reachable = routable(operation.path, request.url)
    if (operation.secured && unauthenticated && status !== 401 && reachable) {
      problems.push(status < 300 ? 'a secured operation succeeded without a valid token' : `a secured operation answered ${status}, not 401, without a valid token`)
    }
    if (!operation.secured && status === 401 && !clientAuth) problems.push('a public operation answered 401')
    // In a burst, one copy may legitimately end the session the others carry (DELETE /users/me).
    if (caller && operation.secured && status === 401 && !concurrent) problems.push(`${caller.label}, valid, was refused`)
    // A valid token: 403 exactly when it has none of the alternatives. (In a burst a copy
    // may take scopes away from the others: an admin demoting itself, a client narrowed.)
    const needs = operation.scopes.map((alternative) => alternative.join('+')).join(' or ')
    const allowed = caller === undefined || allows(operation, caller.scopes)
    if (caller && operation.secured && reachable) {
      if (!allowed && status !== 403 && !(concurrent && status === 401)) {
        problems.push(`${caller.label} has none of ${needs}, yet ${status < 300 ? 'it succeeded' : `the answer was ${status}, not 403`}`)
      }
      if (allowed && status === 403 && !concurrent) problems.push(`403 for ${caller.label}, which holds ${needs}`)
    }
    if (status === 403) {
      // RFC 6750 §3.1, with the operation's scopes in the document's order.
      const expected = `Bearer error="insufficient_scope", scope="${operation.scopes.flat().join(' ')}"`
      if (!isRecord(body) || body.code !== 'INSUFFICIENT_SCOPE') problems.push(`403 with code ${JSON.stringify(isRecord(body) ? body.code : body)}, not INSUFFICIENT_SCOPE`)
      if (challenge !== expected) problems.push(`403 with WWW-Authenticate ${JSON.stringify(challenge)}, not ${JSON.stringify(expected)}`)
    }
    if (caller && status < 300) problems.push(...reachProblems(request, caller, body))
    if (request.verify) problems.push(...request.verify(status, body))

    if (status < 300 && request.forbidden.length > 0) problems.push(`succeeded although ${request.forbidden.join('; ')}`)
    // Fastify's schema errors name the part that failed ("body/quantity must be <= 1000"); domain checks say other things.
    if (request.pristine && status === 400 && isRecord(body) && body.code === 'VALIDATION_ERROR' && /^(body|querystring|params|headers)\b/.test(String(body.message))) {
      problems.push(`refused as invalid a request the document accepts: ${String(body.message)}`)
    }
    if (/\$argon2|password_hash|passwordHash|secret_hash|secretHash/.test(res.body)) problems.push('the body shows a password or secret hash')
    if (Object.values(this.world.clients).some((client) => res.body.includes(client.secretHash))) problems.push('the body shows a client secret\'s hash')
    // The contract's early answers (401, then 403) come before anything about the body.
    const early = operation.secured && unauthenticated ? 401 : operation.secured && !allowed ? 403 : undefined
    if (request.expect && early === undefined && !request.expect.statuses.includes(status)) problems.push(`expected ${request.expect.statuses.join(' or ')}: ${request.expect.why}`)
    return problems
  }

  private note (request: PlannedRequest, status: number, problem: string, body: string): void {
    const { operation } = request
    const url = request.url.length > 140 ? `${request.url.slice(0, 140)}…(${request.url.length} chars)` : request.url
    const payload = request.payload === undefined ? '' : ` body ${request.payload.length > 160 ? `${request.payload.slice(0, 160)}…(${request.payload.length} chars)` : request.payload}`
    const headers = Object.entries(request.headers).map(([k, v]) => `${k}: ${v.length > 40 ? `${v.slice(0, 40)}…(${v.length})` : v}`).join(', ')
    this.violations.push({
      operation: `${operation.method} ${operation.path}`,
      request: `${operation.method} ${url}${headers ? ` [${headers}]` : ''}${payload}`,
      who: request.who === 'junk' ? `junk authorization #${request.junk % JUNK_AUTH_COUNT}` : request.grant ? `${request.who} ${request.grant.holder} [${scopeString(request.grant.scopes)}]` : request.who,
      kind: request.kind,
      status,
      problem,
      body: body.slice(0, 200)
    })
  }
}

/**
 * docs/API.md's reach of the personal scopes: without orders:read a person sees only its
 * own orders, without orders:write cancels only its own, without users:read reads only
 * itself, without users:write deletes only itself.
 */
function reachProblems (request: PlannedRequest, caller: Caller, body: unknown): string[] {
  if (caller.userId === undefined) return []
  const { method, path } = request.operation
  const own = (scope: Scope, what: string, owner: unknown) => (caller.scopes.has(scope) || owner === caller.userId ? [] : [`${caller.label}, without ${scope}, got ${what} of user ${String(owner)}`])
  const pathId = Number(/^\/[a-z]+\/(\d+)/.exec(request.url)?.[1])
  if (method === 'GET' && path === '/orders' && isRecord(body) && Array.isArray(body.items)) {
    return body.items.flatMap((order: unknown) => own('orders:read', 'an order', isRecord(order) ? order.user_id : order))
  }
  if (method === 'GET' && path === '/orders/{id}' && isRecord(body)) return own('orders:read', 'the order', body.user_id)
  if (method === 'POST' && path === '/orders/{id}/cancel' && isRecord(body)) return own('orders:write', 'the cancel', body.user_id)
  if (method === 'GET' && path === '/users/{id}' && isRecord(body)) return own('users:read', 'the user', body.id)
  if (method === 'DELETE' && path === '/users/{id}') return own('users:write', 'the deletion', pathId)
  if (path.startsWith('/users/me') && isRecord(body) && 'id' in body && body.id !== caller.userId) return [`${caller.label} got /users/me of user ${String(body.id)}`]
  return []
}

/** find-my-way's default maxParamLength: a longer path parameter is refused before any route runs. */
const MAX_PARAM_LENGTH = 100

/**
 * Whether the router can hand this URL to the operation's route at all: an
 * undecodable or over-long path parameter is answered before any route (and so
 * before any token check) runs.
 */
function routable (template: string, url: string): boolean {
  const concrete = url.split('?')[0] ?? url
  return pathValuesOf(template, concrete).every(([, value]) => {
    if (value.length > MAX_PARAM_LENGTH) return false
    try {
      decodeURIComponent(value)
      return true
    } catch {
      return false
    }
  }) && !/%(?![0-9A-Fa-f]{2})/.test(concrete)
}

/** A cursor the service issued, and neighbours of it: truncated, extended, its decoded text altered. */
function nearCursors (cursor: string): string[] {
  const decoded = Buffer.from(cursor, 'base64url').toString()
  return [cursor, cursor.slice(1), `${cursor}A`, `${cursor}=`, cursor.toUpperCase(),
    Buffer.from(`${decoded}0`).toString('base64url'), Buffer.from(`${decoded}9999999999999999`).toString('base64url'),
    Buffer.from(decoded.replace(/[0-9]+/, '0')).toString('base64url'), Buffer.from(decoded.replace(/[0-9]+/, '-1')).toString('base64url'),
    Buffer.from(`${decoded}\u0000`).toString('base64url')].filter((c) => c.length > 0)
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Header values must be Latin-1 without controls; anything else would throw in the client, not the server. */
const latin1 = (value: string) => value.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')

function queryPairs (query: string): Array<[string, string]> {
  if (query === '') return []
  return query.split('&').filter(Boolean).map((pair) => {
    const at = pair.indexOf('=')
    return at === -1 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)]
  })
}

/** The raw values a concrete path gives its template's parameters. */
function pathValuesOf (template: string, concrete: string): Array<[string, string]> {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string)
  const pattern = new RegExp(`^${template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('(.*)')}$`)
  const match = pattern.exec(concrete)
  return names.map((name, i) => [name, match?.[i + 1] ?? ''])
}

/** A value as a form body: arrays repeat their key, objects go in as JSON text. */
function encodeBody (value: unknown, mediaType: string): string {
  if (mediaType !== 'application/x-www-form-urlencoded') return JSON.stringify(value) ?? 'null'
  if (!isRecord(value)) return encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value) ?? '')
  const field = (item: unknown) => (item === null ? '' : typeof item === 'object' ? JSON.stringify(item) : String(item))
  return Object.entries(value).flatMap(([key, item]) => (Array.isArray(item) ? item : [item]).map((one) => `${encodeURIComponent(key)}=${encodeURIComponent(field(one))}`)).join('&')
}

/** A form body as the server reads it: a repeated key becomes an array. */
function formObject (payload: string): Record<string, unknown> {
  const result: Record<string, unknown> = {}
  for (const [key, value] of new URLSearchParams(payload)) {
    const previous = result[key]
    Object.defineProperty(result, key, { value: previous === undefined ? value : [previous, value].flat(), enumerable: true, writable: true, configurable: true })
  }
  return result
}
