// The stores' records and the error catalogue are part of what Domain's callers (the app, the jobs,
// the tests) work with: they see them through `import Domain`.
@_exported import Store
