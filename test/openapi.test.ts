import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import SwaggerParser from '@apidevtools/swagger-parser'
import { generateOpenApi, OPENAPI_FILE } from '../src/openapi.js'
import { build } from './helper.js'

t.test('openapi/openapi.json is what the routes generate (run `npm run openapi` after a contract change)', async (t) => {
  const committed = fs.readFileSync(OPENAPI_FILE, 'utf8')
  const generated = await generateOpenApi()
  t.equal(committed, generated, 'openapi/openapi.json is stale: run npm run openapi and commit it')
})

t.test('the document is a valid OpenAPI 3.1 description', async (t) => {
  const document = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8'))
  t.equal(document.openapi, '3.1.0')
  // validate() dereferences in place: give it a copy.
  await t.resolves(SwaggerParser.validate(structuredClone(document)))
  t.same(document.servers, [{ url: '/', description: 'The host that serves this document' }], 'no absolute servers: the docs work on whatever host serves them')
  for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, { operationId?: string, security?: unknown }>>)) {
    for (const [method, operation] of Object.entries(methods)) {
      t.ok(operation.operationId, `${method} ${path} has an operationId`)
      t.ok(Array.isArray(operation.security), `${method} ${path} states its security, open or not`)
    }
  }
  t.same(document.components.securitySchemes.OAuth2.flows.password.tokenUrl, '/auth/token')
})

t.test('GET /docs/json serves the same document as the committed file', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')))
})

t.test('the committed TypeScript types are what openapi-typescript makes of the document', async (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-types-')), 'schema.d.ts')
  t.teardown(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }))
  execFileSync('npx', ['openapi-typescript', 'openapi/openapi.json', '-o', out], { cwd: path.resolve(import.meta.dirname, '..'), stdio: 'ignore' })
  t.equal(fs.readFileSync(new URL('../openapi/schema.d.ts', import.meta.url), 'utf8'), fs.readFileSync(out, 'utf8'), 'openapi/schema.d.ts is stale: run npm run openapi')
})

t.test('the document lints clean with Redocly\'s recommended rules', async (t) => {
  let output = ''
  let failed = false
  try {
    output = execFileSync('npx', ['redocly', 'lint', 'openapi/openapi.json', '--format=summary'], {
      cwd: path.resolve(import.meta.dirname, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
    })
  } catch (err) {
    failed = true
    output = String((err as { stdout?: string }).stdout ?? err) + String((err as { stderr?: string }).stderr ?? '')
  }
  t.notOk(failed, `redocly lint failed:\n${output}`)
  t.notMatch(output, /^(error|warning) /m, 'no errors and no warnings')
})
