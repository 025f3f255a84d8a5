// `npm install` runs this (the prepare script): points git at .githooks/ so the pre-commit hook
// (format + lint of staged files) runs. Does nothing outside a git checkout (e.g. installed as a
// dependency) or in CI.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.env.CI || !existsSync('.git')) process.exit(0);
try {
  execFileSync('git', ['config', 'core.hooksPath', '.githooks'], { stdio: 'ignore' });
} catch {
  // git missing: hooks are a convenience, not a requirement
}
