import { Global, Module } from '@nestjs/common';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import { Catalog } from './catalog';

@Global()
@Module({
  providers: [
    { provide: Catalog, inject: [BLOB_STORE], useFactory: (store: BlobStore) => new Catalog(store) },
  ],
  exports: [Catalog],
})
export class CatalogModule {}
