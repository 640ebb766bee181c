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
import { FuzzWorld, type Principal } from './fuzz-world.js'

// "Hold under attack": every operation of the LIVE OpenAPI document gets valid
// and broken input — paths, queries, headers, bodies, media types, tokens —
// as a customer, as an admin and with no or a junk token. Nothing may be a
// 5xx, every declared status must carry its declared body, every other 4xx the
// standard error body, and nothing the document forbids may succeed. All
// violations are collected and reported together at the end.
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
const OAUTH_PATHS = new Set(['/auth/token', '/auth/revoke'])
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

type Who = 'customer' | 'admin' | 'none' | 'junk'

interface PlannedRequest {
  operation: Operation
  kind: string
  who: Who
  /** Index into junkAuthorizations, when who is 'junk'. */
  junk: number
  url: string
  headers: Record<string, string>
  payload?: string
  /** What the document forbids in this request: when not empty, no 2xx may come back. */
  forbidden: string[]
  /** Only documented parameters, a declared media type, nothing the document forbids: the server must not call it invalid. */
  pristine: boolean
  /** Statuses the request must get, when the contract pins them (a 70 KB body is 413). */
  expect?: { statuses: number[], why: string }
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
  t.comment(`fuzz: principals restored ${Object.values(world.principals).map((p) => `${p.name} ×${p.repairs}`).join(', ')}`)
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

  private get options (): ConvertOptions {
    const { admin, customer, other } = this.world.principals
    const emails = [admin.email, customer.email, other.email]
    // Values that get past the first check, so the deeper code runs too.
    return {
      resolve: this.resolve,
      hints: {
        username: fc.constantFrom(...emails, customer.email.toUpperCase()),
        email: fc.constantFrom(...emails, ` ${customer.email} `),
        password: fc.constant(DEFAULT_PASSWORD),
        current_password: fc.constant(DEFAULT_PASSWORD),
        refresh_token: fc.constantFrom(customer.refreshToken, admin.refreshToken),
        token: fc.constantFrom(customer.refreshToken),
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
          const request: PlannedRequest = { operation: { method, path: template, parameters: [], bodies: {}, bodyRequired: false, secured: false, roleRestricted: false, responses: {} }, kind: 'undocumented method', who, junk: 0, url, headers: {}, forbidden: [], pristine: false }
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
    const pathValue = (p: Parameter) => fault === `path:${p.name}`
      ? brokenPath(p)
      : valid
        ? validArbitrary(p.schema, options).map((v) => encodeURIComponent(asText(v)))
        : fc.oneof(
          { weight: 6, arbitrary: validArbitrary(p.schema, options).map((v) => encodeURIComponent(asText(v))) },
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
      who: valid ? (operation.roleRestricted ? fc.constant<Who>('admin') : fc.constantFrom<Who>('customer', 'admin')) : fc.constantFrom<Who>('customer', 'customer', 'admin', 'admin', 'none', 'junk'),
      junk: fc.nat({ max: JUNK_AUTH_COUNT - 1 }),
      path: fc.tuple(...pathParams.map(pathValue)),
      query: valid ? validPairs(queryParams, false) : paramPairs(queryParams, ['junk', '__proto__', 'constructor']),
      rawQuery: valid ? fc.constant(undefined) : fc.option(fc.constantFrom(...RAW_QUERIES), { freq: 6, nil: undefined }),
      headers: valid ? validPairs(headerParams, true) : paramPairs(headerParams, ['x-junk']),
      body,
      contentType
    }).map((choice) => {
      // An empty segment would reach another route (/orders/ is the list): send a blank instead.
      const segments = choice.path.map((value) => (value === '' ? '%20' : value))
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
        who: choice.who,
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
    const answers = await Promise.all(requests.map(async (request) => {
      const principal = request.who === 'customer' || request.who === 'admin' ? this.world.principals[request.who] : undefined
      const headers = { ...request.headers }
      if (principal) headers.authorization = `Bearer ${principal.accessToken}`
      if (request.who === 'junk') headers.authorization = junkAuthorizations(this.world.principals.customer.accessToken)[request.junk % JUNK_AUTH_COUNT] ?? 'Bearer'
      try {
        const res = await this.app.inject({ method: request.operation.method as 'GET', url: request.url, headers, ...(request.payload === undefined ? {} : { payload: request.payload }) })
        return { request, principal, res }
      } catch (err) {
        this.note(request, 0, `inject threw: ${(err as Error).message}`, '')
        return undefined
      }
    }))
    let mend = false
    for (const answer of answers) {
      if (!answer) continue
      const { request, principal, res } = answer
      const label = `${request.operation.method} ${request.operation.path}`
      this.sent++
      this.statuses.set(res.statusCode, (this.statuses.get(res.statusCode) ?? 0) + 1)
      const counts = this.byOperation.get(label) ?? new Map<number, number>()
      counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1)
      this.byOperation.set(label, counts)
      for (const problem of this.judge(request, res, principal, concurrent)) this.note(request, res.statusCode, problem, res.body)
      // A public write may end sessions even when it fails (a reused refresh token revokes its family).
      mend ||= (request.operation.method !== 'GET' && (res.statusCode < 300 || !request.operation.secured)) || res.statusCode === 401
    }
    // Whatever these requests ended (a user, a session, a role), the next one starts whole again.
    if (mend) await this.world.heal()
  }

  private judge (request: PlannedRequest, res: LightMyRequestResponse, principal: Principal | undefined, concurrent: boolean): string[] {
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

    // Who may call what: the document's `security`, and 403 for role-restricted operations.
    const unauthenticated = request.who === 'none' || request.who === 'junk'
    if (status === 401 && !/^Bearer\b/.test(String(res.headers['www-authenticate'] ?? ''))) problems.push('401 without WWW-Authenticate: Bearer')
    if (operation.secured && unauthenticated && status !== 401 && routable(operation.path, request.url)) {
      problems.push(status < 300 ? 'a secured operation succeeded without a valid token' : `a secured operation answered ${status}, not 401, without a valid token`)
    }
    if (!operation.secured && status === 401) problems.push('a public operation answered 401')
    if (operation.roleRestricted && request.who === 'customer' && status < 300) problems.push('a role-restricted operation (it declares 403) succeeded for a customer')
    // In a burst, one copy may legitimately end the session the others carry (DELETE /users/me).
    if (principal && status === 401 && !concurrent) problems.push(`the ${principal.name}'s valid token was refused`)

    if (status < 300 && request.forbidden.length > 0) problems.push(`succeeded although ${request.forbidden.join('; ')}`)
    // Fastify's schema errors name the part that failed ("body/quantity must be <= 1000"); domain checks say other things.
    if (request.pristine && status === 400 && isRecord(body) && body.code === 'VALIDATION_ERROR' && /^(body|querystring|params|headers)\b/.test(String(body.message))) {
      problems.push(`refused as invalid a request the document accepts: ${String(body.message)}`)
    }
    if (/\$argon2|password_hash|passwordHash/.test(res.body)) problems.push('the body shows a password hash')
    // The contract's early answers (401, then 403) come before anything about the body.
    const early = operation.secured && unauthenticated ? 401 : operation.roleRestricted && request.who === 'customer' ? 403 : undefined
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
      who: request.who === 'junk' ? `junk authorization #${request.junk % JUNK_AUTH_COUNT}` : request.who,
      kind: request.kind,
      status,
      problem,
      body: body.slice(0, 200)
    })
  }
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
