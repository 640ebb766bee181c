// npm run keys:rotate: adds a new signing key under DATA_DIR/keys. Running
// instances start signing with it within 30 s; the previous key keeps verifying
// until the last token it signed has expired, and this command deletes keys
// that are past that point.
import fs from 'node:fs'
import path from 'node:path'
import { ConfigError, loadConfig } from '../config.js'
import { generateKeyFile, keyFiles, keysDirectory, signingKeyFromPem } from '../keys.js'

try {
  const config = loadConfig()
  if (config.jwtPrivateKeyFile) {
    throw new ConfigError('JWT_PRIVATE_KEY_FILE', 'is set: rotate by adding keys under DATA_DIR/keys instead of one shared file')
  }
  const file = generateKeyFile(config.dataDir)
  const { kid } = signingKeyFromPem(fs.readFileSync(file, 'utf8'))
  console.log(`new signing key ${kid} (${path.basename(file)})`)
  for (const retired of keyFiles(config.dataDir, config.accessTokenTtl).retired) {
    fs.rmSync(path.join(keysDirectory(config.dataDir), retired))
    console.log(`removed retired key ${retired}`)
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
}
