// The service's node arguments exactly as `npm start` has them, so that what the
// benchmarks measure is what an operator runs (V8 flags included).
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const { scripts } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
const [program, ...args] = scripts.start.split(/\s+/)
if (program !== 'node') throw new Error(`npm start runs "${scripts.start}"; the benchmarks expect "node <flags> <entry>"`)

export const serviceArgs: readonly string[] = args
