export * from '../formats/python-json.js';
