// The browser entry (package.json "browser" condition): the SDK without the keeper, which serves HTTP from Node.
export * from './api.js'
