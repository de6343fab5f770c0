# One user-assigned identity per service, federated to that service's Kubernetes service account only
# (deploy/k8s: tidemark-<service> in var.kubernetes_namespace), each with the least data access its code needs.
locals {
  services = toset(["scheduler", "dumper", "uploader", "verifier", "retention", "archiver", "notifier"])

  # What each service does to blobs, from the code:
  #   scheduler  lists and reads manifests (catalog gauges, RPO watchdog)                   -> read
  #   dumper     marks a backup failed in its remote manifest                               -> write, no delete
  #   uploader   stages and commits blocks, sets metadata/tags/tier, writes the manifest    -> write, no delete
  #   verifier   re-reads the blob; marks it verified/corrupt (manifest + status tag)       -> write, no delete
  #   retention  deletes pruned backups, moves tiers, updates manifests and tags            -> delete + write
  #   archiver   commits WAL segments and history files once, reads them back to check      -> write, no delete
  #              (its replaced partial segments are the exception: wal_partials below)
  #   notifier   lists and reads manifests (last verified backup, digests' recovery windows) -> read
  # Storage Blob Data Contributor would also let the writers delete, so they get a custom role without it.
  blob_role = {
    scheduler = "reader"
    dumper    = "writer"
    uploader  = "writer"
    verifier  = "writer"
    retention = "retention"
    archiver  = "wal_archiver"
    notifier  = "reader"
  }
}

resource "azurerm_user_assigned_identity" "service" {
  for_each            = local.services
  name                = "${var.name_prefix}-${each.key}"
  resource_group_name = data.azurerm_resource_group.this.name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "service" {
  for_each            = local.services
  name                = "aks-${var.kubernetes_namespace}-${each.key}"
  resource_group_name = data.azurerm_resource_group.this.name
  parent_id           = azurerm_user_assigned_identity.service[each.key].id
  issuer              = var.aks_oidc_issuer_url
  subject             = "system:serviceaccount:${var.kubernetes_namespace}:tidemark-${each.key}"
  audience            = ["api://AzureADTokenExchange"]
}

# Write without delete: create blobs (If-None-Match), stage/commit blocks, set tier (a blob write), tags.
resource "azurerm_role_definition" "backup_writer" {
  name        = "${var.name_prefix} Backup Writer (no delete)"
  scope       = azurerm_storage_account.backups.id
  description = "Tidemark: read and write backups, metadata, tags and tier; never delete."
  permissions {
    actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    ]
    data_actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/filter/action",
    ]
  }
  assignable_scopes = [azurerm_storage_account.backups.id]
}

# Retention: read, delete and change tier/tags (Azure has no tier-only action: Set Blob Tier is blobs/write).
# No deleteBlobVersion: versioning and soft delete keep a pruned backup recoverable for soft_delete_days.
resource "azurerm_role_definition" "retention" {
  name        = "${var.name_prefix} Retention Manager"
  scope       = azurerm_storage_account.backups.id
  description = "Tidemark retention: read, delete, set tier and tags of backups."
  permissions {
    actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    ]
    data_actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/filter/action",
    ]
  }
  assignable_scopes = [azurerm_storage_account.backups.id]
}

# The archiver: write WAL once and read it back; never delete. Same data actions as the backup writer, a role of its
# own so that either can change without widening the other.
resource "azurerm_role_definition" "wal_archiver" {
  name        = "${var.name_prefix} WAL Archiver (no delete)"
  scope       = azurerm_storage_account.backups.id
  description = "Tidemark archiver: read and write WAL segments, history files, metadata and tags; never delete."
  permissions {
    actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    ]
    data_actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/filter/action",
    ]
  }
  assignable_scopes = [azurerm_storage_account.backups.id]
}

# The one delete the archiver needs: a partial segment (`<target>/wal/<tli>/<segment>.partial.zst`) is replaced by
# delete + commit every pitr.shipPartialSeconds and removed once its segment is complete. The condition limits the
# delete to those blobs; a complete segment, a history file or a backup stays out of its reach.
resource "azurerm_role_definition" "wal_partial_remover" {
  name        = "${var.name_prefix} WAL Partial Remover"
  scope       = azurerm_storage_account.backups.id
  description = "Tidemark archiver: delete blobs, granted only under a condition naming partial WAL segments."
  permissions {
    data_actions = [
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
    ]
  }
  assignable_scopes = [azurerm_storage_account.backups.id]
}

resource "azurerm_role_assignment" "wal_partials" {
  scope              = azurerm_storage_container.backups.id
  role_definition_id = azurerm_role_definition.wal_partial_remover.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.service["archiver"].principal_id
  principal_type     = "ServicePrincipal"
  condition_version  = "2.0"
  condition          = <<-EOT
    (
      !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'})
      OR
      @Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike '*/wal/*.partial.zst'
    )
  EOT
}

resource "azurerm_role_assignment" "blob" {
  for_each     = local.blob_role
  scope        = azurerm_storage_container.backups.id
  principal_id = azurerm_user_assigned_identity.service[each.key].principal_id
  # Built-in reader by name; the custom roles by id (their names carry the prefix).
  role_definition_name = each.value == "reader" ? "Storage Blob Data Reader" : null
  role_definition_id = (
    each.value == "writer" ? azurerm_role_definition.backup_writer.role_definition_resource_id :
    each.value == "retention" ? azurerm_role_definition.retention.role_definition_resource_id :
    each.value == "wal_archiver" ? azurerm_role_definition.wal_archiver.role_definition_resource_id : null
  )
  principal_type = "ServicePrincipal"
}

# Every service publishes events; retention and the notifier consume, each its own subscription.
resource "azurerm_role_assignment" "events_sender" {
  for_each             = local.services
  scope                = azurerm_servicebus_topic.events.id
  role_definition_name = "Azure Service Bus Data Sender"
  principal_id         = azurerm_user_assigned_identity.service[each.key].principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "events_receiver" {
  for_each             = toset(["retention", "notifier"])
  scope                = azurerm_servicebus_subscription.events[each.key].id
  role_definition_name = "Azure Service Bus Data Receiver"
  principal_id         = azurerm_user_assigned_identity.service[each.key].principal_id
  principal_type       = "ServicePrincipal"
}
