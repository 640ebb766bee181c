import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')

export interface ServerProcess {
  child: ChildProcess
  url: string
  /** Everything it wrote so far (stdout and stderr). */
  output: () => string
}

/**
 * Starts src/server.ts as a real process (or another command line, such as the built
 * dist/src/main.cjs); resolves with its base URL once it listens (needs LOG_LEVEL info).
 */
export async function startServer (env: Record<string, string>, commandLine: string[] = [process.execPath, '--import=tsx', 'src/server.ts']): Promise<ServerProcess> {
  const [command = process.execPath, ...args] = commandLine
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  // Always drained, so a chatty log never blocks the child on a full pipe.
  child.stderr?.on('data', (chunk) => { output += chunk })
  child.stdout?.on('data', (chunk) => { output += chunk })
  const url = await new Promise<string>((resolve, reject) => {
    const listening = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match?.[1]) {
        child.stdout?.off('data', listening)
        resolve(match[1])
      }
    }
    child.stdout?.on('data', listening)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)))
  })
  return { child, url, output: () => output }
}
