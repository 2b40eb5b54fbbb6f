export * from './io';
export * from './types';
