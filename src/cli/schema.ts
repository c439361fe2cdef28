import manifestSchema from '../../schema/manifest.schema.json' with { type: 'json' };
import type { Command } from './io.ts';

// `errand schema`: print the manifest JSON Schema (draft-07) for editors and CI validators.
export const schemaCommand: Command = async (argv, io) => {
  if (argv.length > 0) {
    io.stderr(`errand schema: unexpected argument ${JSON.stringify(argv[0])}\nusage: errand schema\n`);
    return 2;
  }
  io.stdout(`${JSON.stringify(manifestSchema, null, 2)}\n`);
  return 0;
};
