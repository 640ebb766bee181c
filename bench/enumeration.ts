// Does the token endpoint tell known from unknown e-mails by its answer or its
// time? 100 alternating tries each, default argon2 parameters, through inject.
// `npx tsx bench/enumeration.ts`
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const TRIES = Number(process.env.TRIES ?? 100)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'enumeration-'))
const app = await buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', LOGIN_RATE_LIMIT: '1000000', LOGIN_MAX_FAILURES: '1000000' }))
await app.inject({ method: 'POST', url: '/users', payload: { email: 'known@example.test', password: 'correct horse battery' } })

const timed = async (username: string) => {
  const start = performance.now()
  const res = await app.inject({ method: 'POST', url: '/auth/token', payload: { username, password: 'a wrong password' } })
  return { ms: performance.now() - start, status: res.statusCode, body: res.body }
}
const known: number[] = []
const unknown: number[] = []
const answers = new Set<string>()
await timed('warm-up@example.test')
for (let i = 0; i < TRIES; i++) {
  for (const [list, email] of (i % 2 === 0 ? [[known, 'known@example.test'], [unknown, `nobody${i}@example.test`]] : [[unknown, `nobody${i}@example.test`], [known, 'known@example.test']]) as Array<[number[], string]>) {
    const answer = await timed(email)
    list.push(answer.ms)
    answers.add(`${answer.status} ${answer.body}`)
  }
}
await app.close()
fs.rmSync(dataDir, { recursive: true, force: true })

const knownMs = median(known)
const unknownMs = median(unknown)
const differencePercent = Math.abs(knownMs - unknownMs) / Math.max(knownMs, unknownMs) * 100
const result = {
  date: new Date().toISOString(),
  tries: TRIES,
  identicalAnswers: answers.size === 1,
  answer: [...answers][0],
  knownEmailWrongPasswordMedianMs: +knownMs.toFixed(2),
  unknownEmailMedianMs: +unknownMs.toFixed(2),
  differencePercent: +differencePercent.toFixed(2),
  goal: '< 10 %',
  verdict: answers.size === 1 && differencePercent < 10 ? 'PASS' : 'MISS'
}
fs.mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
fs.writeFileSync(new URL(`./results/enumeration-${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url), JSON.stringify(result, null, 2))
console.log(JSON.stringify(result, null, 2))
