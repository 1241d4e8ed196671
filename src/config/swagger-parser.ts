/**
 * swagger-parser without its schema validator. Its index requires
 * lib/validators/schema.js, which loads Ajv's 2020 and draft-04 builds
 * (~250 ms of a cold start's validation) for a check this gateway makes with
 * a precompiled validator instead (swagger2-validator.generated.ts, with
 * `validate: { schema: false }`). That module is put in require's cache
 * first, as one that refuses to run, so swagger-parser never loads Ajv.
 */
import { createRequire, Module } from 'node:module';

type SwaggerParserClass = typeof import('@apidevtools/swagger-parser');

const require = createRequire(import.meta.url);
const parserFile = require.resolve('@apidevtools/swagger-parser');
const schemaValidatorFile = createRequire(parserFile).resolve('./validators/schema');
if (!require.cache[schemaValidatorFile]) {
  const stub = new Module(schemaValidatorFile);
  stub.filename = schemaValidatorFile;
  stub.loaded = true;
  stub.exports = () => {
    throw new Error("swagger-parser's schema check is not loaded: call it with validate: { schema: false } and check the schema with swagger2-validator.generated.ts");
  };
  require.cache[schemaValidatorFile] = stub;
}

export const SwaggerParser = require(parserFile) as SwaggerParserClass;
export type SwaggerParserOptions = import('@apidevtools/swagger-parser').Options;
