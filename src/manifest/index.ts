export * from './evidence';
export * from './io';
export * from './pitr';
export * from './types';
