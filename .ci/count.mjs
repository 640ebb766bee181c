// Counts the assertions of the last tap run from the raw TAP that tap saves under
// .tap/test-results, so the line CI reads is the real number that passed and failed.
import fs from 'node:fs'
import path from 'node:path'
import { Parser } from 'tap-parser'

const dir = '.tap/test-results'
const files = fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.tap')) : []
let passed = 0
let failed = 0
// A subtest's closing point repeats what its children said; count only the leaves.
function countLeaves (parser, totals) {
  parser.on('child', (child) => {
    countLeaves(child, totals)
    child.on('complete', (results) => { totals.subtests[results.ok ? 'ok' : 'notOk']++ })
  })
  parser.on('assert', (point) => { totals[point.ok ? 'pass' : 'fail']++ })
}

for (const file of files) {
  const totals = { pass: 0, fail: 0, subtests: { ok: 0, notOk: 0 } }
  const parser = new Parser()
  countLeaves(parser, totals)
  const done = new Promise((resolve) => parser.on('complete', resolve))
  parser.end(fs.readFileSync(path.join(dir, String(file)), 'utf8'))
  const results = await done
  passed += totals.pass - totals.subtests.ok
  const leafFailures = totals.fail - totals.subtests.notOk
  // A file that crashed or timed out without a failing point still failed.
  failed += leafFailures > 0 ? leafFailures : (results.ok ? 0 : 1)
}
const exitCode = Number(process.argv[2] ?? 0)
if (exitCode !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
