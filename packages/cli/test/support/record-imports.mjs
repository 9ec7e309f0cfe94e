// Registered with `node --import`: writes the URL of every module the process resolves, one per
// line, to $RECORD_IMPORTS_FILE. Plain JavaScript, since it runs before tsx is registered.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url, {
  data: { file: process.env.RECORD_IMPORTS_FILE },
});
