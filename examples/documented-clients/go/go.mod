module example.com/documented-clients/go

go 1.19
