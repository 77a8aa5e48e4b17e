// After `npm pack`: puts back the package.json that prepack.mjs set aside (see there why).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const backup = path.join(root, 'package.json.prepack');
if (fs.existsSync(backup)) fs.renameSync(backup, path.join(root, 'package.json'));
