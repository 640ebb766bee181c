// npm run openapi: regenerates openapi/openapi.json from the routes.
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generateOpenApi, OPENAPI_FILE } from '../openapi.js'

fs.writeFileSync(OPENAPI_FILE, await generateOpenApi())
console.log(`wrote ${fileURLToPath(OPENAPI_FILE)}`)
