// The connection value lives in server.ts; these names stay for the modules that import them here.
export {
  childEnv,
  childOptions,
  connectionFromEnv,
  connectionFromUrl,
  connectionUrl,
  describeConnection,
  maintenance,
  pgOptions,
  withDatabase,
  type ConnectionSettings,
} from './server';
