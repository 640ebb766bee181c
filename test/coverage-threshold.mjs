// npm test's last step: the coverage of the run just made (tap's json-summary report)
// must not fall below package.json's coverageThreshold. tap itself knows only "100 %
// or allow less"; this keeps the figure from going down, and the threshold is raised
// whenever coverage is.
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const { coverageThreshold } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const summaryFile = path.join(root, '.tap', 'report', 'coverage-summary.json')
if (!fs.existsSync(summaryFile)) {
  console.error(`coverage: ${path.relative(root, summaryFile)} is missing; did tap run with coverage on?`)
  process.exit(1)
}
const { total } = JSON.parse(fs.readFileSync(summaryFile, 'utf8'))
let failed = false
for (const [metric, minimum] of Object.entries(coverageThreshold)) {
  const pct = total[metric].pct
  const ok = pct >= minimum
  if (!ok) failed = true
  console.log(`coverage ${metric}: ${pct} % (threshold ${minimum} %)${ok ? '' : ' — BELOW THE THRESHOLD'}`)
}
process.exit(failed ? 1 : 0)
