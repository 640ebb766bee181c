// Can a caller tell a registered e-mail from an unknown one by POST /auth/token's
// answer or its time? One registered user; 100 tries each of (a) its e-mail with a
// wrong password and (b) an e-mail nobody registered, alternating (a, b, b, a, …) so
// drift in the machine's speed falls on both sides alike. Default argon2 parameters,
// since the dummy-hash defence only means something at the real cost.
// Run: npx tsx bench/enumeration.ts   (TRIES=… to change the count)
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const TRIES = Number(process.env.TRIES ?? 100)
const WARM_UP = 5
const GOAL_PERCENT = 10
const KNOWN_EMAIL = 'known@example.test'
const UNKNOWN_EMAIL = 'nobody@example.test'
const WRONG_PASSWORD = 'not the password 1'

interface Answer { ms: number, status: number, body: string, headers: string }

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}
const round = (value: number) => Math.round(value * 100) / 100

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-api-enumeration-'))
// No ARGON2_* variables: the defaults (OWASP's m=19456 KiB, t=2, p=1) are what is measured.
const config = loadConfig({
  DATA_DIR: dataDir,
  LOG_LEVEL: 'silent',
  LOGIN_RATE_LIMIT: '1000000',
  LOGIN_MAX_FAILURES: '1000000'
})
const app = await buildApp(config)
await app.ready()

try {
  const registered = await app.inject({ method: 'POST', url: '/users', payload: { email: KNOWN_EMAIL, password: 'correct horse battery' } })
  if (registered.statusCode !== 201) throw new Error(`register: ${registered.statusCode} ${registered.body}`)

  // Headers that differ per request by design (the per-address counter counts every
  // token request alike); every other header must match too.
  const VOLATILE = new Set(['date', 'x-request-id', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
  const attempt = async (username: string): Promise<Answer> => {
    const start = performance.now()
    const res = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username, password: WRONG_PASSWORD } })
    const ms = performance.now() - start
    const headers = Object.entries(res.headers).filter(([name]) => !VOLATILE.has(name)).sort(([a], [b]) => a.localeCompare(b))
    return { ms, status: res.statusCode, body: res.body, headers: JSON.stringify(headers) }
  }

  for (let i = 0; i < WARM_UP; i++) {
    await attempt(KNOWN_EMAIL)
    await attempt(UNKNOWN_EMAIL)
  }
  const known: Answer[] = []
  const unknown: Answer[] = []
  for (let i = 0; i < TRIES; i++) {
    if (i % 2 === 0) {
      known.push(await attempt(KNOWN_EMAIL))
      unknown.push(await attempt(UNKNOWN_EMAIL))
    } else {
      unknown.push(await attempt(UNKNOWN_EMAIL))
      known.push(await attempt(KNOWN_EMAIL))
    }
  }

  const distinct = (answers: Answer[], key: 'status' | 'body' | 'headers') => [...new Set(answers.map((answer) => String(answer[key])))]
  const all = [...known, ...unknown]
  const statuses = distinct(all, 'status')
  const bodies = distinct(all, 'body')
  const headerSets = distinct(all, 'headers')
  const knownMedian = median(known.map((answer) => answer.ms))
  const unknownMedian = median(unknown.map((answer) => answer.ms))
  const differencePercent = Math.abs(knownMedian - unknownMedian) / Math.max(knownMedian, unknownMedian) * 100
  const sameStatus = statuses.length === 1
  const sameBody = bodies.length === 1
  const pass = sameStatus && sameBody && differencePercent < GOAL_PERCENT

  const date = new Date().toISOString()
  const result = {
    date,
    node: process.version,
    cpus: os.cpus().length,
    argon2: config.argon2,
    triesEach: TRIES,
    warmUpEach: WARM_UP,
    status: { identical: sameStatus, values: statuses.map(Number) },
    body: { identical: sameBody, values: bodies },
    headers: { identical: headerSets.length === 1, variants: headerSets.length },
    knownEmailWrongPassword: { medianMs: round(knownMedian), minMs: round(Math.min(...known.map((a) => a.ms))), maxMs: round(Math.max(...known.map((a) => a.ms))) },
    unknownEmail: { medianMs: round(unknownMedian), minMs: round(Math.min(...unknown.map((a) => a.ms))), maxMs: round(Math.max(...unknown.map((a) => a.ms))) },
    differencePercent: round(differencePercent),
    goal: `< ${GOAL_PERCENT} %`,
    verdict: pass ? 'PASS' : 'MISS'
  }

  const resultsDir = new URL('./results/', import.meta.url)
  fs.mkdirSync(resultsDir, { recursive: true })
  const file = new URL(`enumeration-${date.replace(/[:.]/g, '-')}.json`, resultsDir)
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n')

  console.log(`argon2 m=${config.argon2.memoryCost} KiB t=${config.argon2.timeCost} p=${config.argon2.parallelism}; ${TRIES} tries each, alternating`)
  console.log(`status identical: ${sameStatus} (${statuses.join(', ')})`)
  console.log(`body identical:   ${sameBody} (${bodies.length === 1 ? bodies[0] : bodies.join(' | ')})`)
  console.log(`headers identical (but date, x-request-id, x-ratelimit-remaining/-reset): ${headerSets.length === 1}`)
  console.log(`median, known e-mail + wrong password: ${result.knownEmailWrongPassword.medianMs} ms`)
  console.log(`median, unknown e-mail:                ${result.unknownEmail.medianMs} ms`)
  console.log(`relative difference: ${result.differencePercent} % (goal ${result.goal}) → ${result.verdict}`)
  console.log(`written to ${path.relative(process.cwd(), file.pathname)}`)
  if (!pass) process.exitCode = 1
} finally {
  await app.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
}
