import { Global, Module } from '@nestjs/common';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import { Catalog } from './catalog';
import { ManifestStore } from './manifest-store';

@Global()
@Module({
  providers: [
    { provide: Catalog, inject: [BLOB_STORE], useFactory: (store: BlobStore) => new Catalog(store) },
    ManifestStore,
  ],
  exports: [Catalog, ManifestStore],
})
export class CatalogModule {}
