import fs from 'node:fs'
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
  t.notOk('servers' in document, 'no absolute servers: the docs work on whatever host serves them')
  t.same(document.components.securitySchemes.OAuth2.flows.password.tokenUrl, '/auth/token')
})

t.test('GET /docs/json serves the same document as the committed file', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')))
})
