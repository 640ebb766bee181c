// Bare argon2id verifications per second with the service's default parameters
// and the same concurrency as its hashing pool: what logins/s can at best be.
import argon2 from 'argon2'
import { defaultHashConcurrency } from '../dist/src/config.js'

const seconds = Number(process.argv[2] ?? 8)
// The service's default on the same cores, unless given.
const concurrency = Number(process.argv[3] ?? defaultHashConcurrency())
const options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 }
const hash = await argon2.hash('bench passphrase 123', options)
await argon2.verify(hash, 'bench passphrase 123')
let done = 0
const until = performance.now() + seconds * 1000
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < until) {
    await argon2.verify(hash, 'bench passphrase 123')
    done++
  }
}))
console.log(JSON.stringify({ verifiesPerSecond: Math.round(done / seconds), concurrency, seconds }))
