import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { errors } from '../src/errors.js'

// One registry of error codes: every code the API answers with comes from src/errors.ts,
// and a client finds each in the README's error table — no more, no fewer.

const readme = fs.readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8')
const section = readme.slice(readme.indexOf('## Error codes'), readme.indexOf('\n## ', readme.indexOf('## Error codes') + 1))
const documented = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1] as string, Number(match[2])]))
const registered = new Map<string, number>(Object.values(errors).map((ErrorType) => {
  const error = new ErrorType()
  return [error.code, error.statusCode ?? 500] as const
}))

t.test('every registered code is in the README\'s error table, with its status', async (t) => {
  t.ok(registered.size >= 30, `${registered.size} codes registered`)
  t.same([...registered].filter(([code, status]) => documented.get(code) !== status), [])
})

t.test('the README\'s error table lists nothing the service does not answer', async (t) => {
  t.same([...documented.keys()].filter((code) => !registered.has(code)), [])
})

t.test('each key of the registry is its code', async (t) => {
  t.same(Object.entries(errors).filter(([key, ErrorType]) => new ErrorType().code !== key).map(([key]) => key), [])
})
