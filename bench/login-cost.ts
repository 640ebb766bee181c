// Median time of one argon2id verify and one full POST /auth/token with the
// default (OWASP) parameters, sequentially, on this machine.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import argon2 from 'argon2'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const ROUNDS = Number(process.env.ROUNDS ?? 30)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'login-cost-'))
// No address limit or lockout: this measures the work of a login, not the refusal of one.
const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', LOGIN_RATE_LIMIT: '1000000', LOGIN_MAX_FAILURES: '1000000' })
const app = await buildApp(config)
const email = 'bench@example.test'
const password = 'correct horse battery'
await app.inject({ method: 'POST', url: '/users', payload: { email, password } })

const hash = await argon2.hash(password, { type: argon2.argon2id, ...config.argon2 })
const verifyTimes: number[] = []
const loginTimes: number[] = []
const unknownTimes: number[] = []
for (let i = 0; i < ROUNDS; i++) {
  let start = performance.now()
  await argon2.verify(hash, password)
  verifyTimes.push(performance.now() - start)

  start = performance.now()
  const ok = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: email, password } })
  loginTimes.push(performance.now() - start)
  if (ok.statusCode !== 200) throw new Error(`login failed: ${ok.body}`)

  start = performance.now()
  await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'nobody@example.test', password } })
  unknownTimes.push(performance.now() - start)
}
await app.close()
fs.rmSync(dataDir, { recursive: true, force: true })
console.log(JSON.stringify({
  params: config.argon2,
  rounds: ROUNDS,
  argon2VerifyMedianMs: +median(verifyTimes).toFixed(2),
  loginMedianMs: +median(loginTimes).toFixed(2),
  unknownEmailMedianMs: +median(unknownTimes).toFixed(2)
}, null, 2))
