import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { build, createUser, login, tempDir, testEnv } from '../helper.js'

const root = path.resolve(import.meta.dirname, '../..')
const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).kid as string
const rotate = (dataDir: string) => execFileSync(process.execPath, ['--import=tsx', 'src/cli/rotate-keys.ts'], {
  cwd: root, env: { ...process.env, ...testEnv(dataDir, { ACCESS_TOKEN_TTL: '60' }) }, encoding: 'utf8'
})

t.test('rotation: the new key signs, the old one verifies until its last token expired, then leaves', async (t) => {
  const dataDir = tempDir(t)
  const app = await build(t, { ACCESS_TOKEN_TTL: '60' }, dataDir)
  const user = await createUser(app)
  const oldKid = kidOf(user.accessToken)

  t.match(rotate(dataDir), /^new signing key /)
  app.reloadKeys()
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.equal(jwks.keys.length, 2, 'both keys are published')
  const fresh = await login(app, user.email)
  const newKid = kidOf(fresh.access_token)
  t.not(newKid, oldKid, 'new tokens use the new key')
  t.ok(jwks.keys.some((key: { kid: string }) => key.kid === newKid))
  const asOld = await user.inject({ method: 'GET', url: '/users/me' })
  t.equal(asOld.statusCode, 200, 'a token of the old key still works')

  // Let a token lifetime pass: date the key files back instead of waiting.
  const dir = path.join(dataDir, 'keys')
  const [older, newer] = fs.readdirSync(dir).sort() as [string, string]
  const back = (file: string, minutes: number) => {
    const renamed = file.replace(/^\d+/, String(Date.now() - minutes * 60_000))
    fs.renameSync(path.join(dir, file), path.join(dir, renamed))
  }
  back(older, 10)
  back(newer, 5)
  app.reloadKeys()
  const after = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.same(after.keys.map((key: { kid: string }) => key.kid), [newKid], 'the old key left the JWKS')
  const refused = await user.inject({ method: 'GET', url: '/users/me' })
  t.equal(refused.statusCode, 401, 'a token of the removed key fails')
  const current = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${fresh.access_token}` } })
  t.equal(current.statusCode, 200)

  t.match(rotate(dataDir), /removed retired key/, 'the next rotation deletes retired key files')
  t.equal(fs.readdirSync(dir).length, 2)
})
