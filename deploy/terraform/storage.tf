data "azurerm_resource_group" "this" {
  name = var.resource_group_name
}

resource "azurerm_storage_account" "backups" {
  name                     = "${var.name_prefix}backups"
  resource_group_name      = data.azurerm_resource_group.this.name
  location                 = var.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = "ZRS"
  access_tier              = "Cool"
  min_tls_version          = "TLS1_2"
  # Entra ID only: every service authenticates with its workload identity, so a leaked key cannot exist.
  shared_access_key_enabled       = false
  allow_nested_items_to_be_public = false
  default_to_oauth_authentication = true

  blob_properties {
    # A blob overwritten or deleted by mistake (or by an attacker with a service's identity) is recoverable.
    versioning_enabled = true
    delete_retention_policy {
      days = var.soft_delete_days
    }
    container_delete_retention_policy {
      days = var.soft_delete_days
    }
  }

  # Version-level immutability support on the account, so every container accepts the per-blob immutability
  # policies and legal holds that storage.immutability asks for. It can only be chosen when the account is created
  # (changing it replaces the account), and there is no account-wide default policy: state "Disabled" leaves the
  # period to each blob's own policy, which Tidemark sets to the backup's planned expiry.
  dynamic "immutability_policy" {
    for_each = var.version_level_immutability ? [1] : []
    content {
      state                         = "Disabled"
      period_since_creation_in_days = 1
      allow_protected_append_writes = false
    }
  }

  tags = var.tags
}

resource "azurerm_storage_container" "backups" {
  name                  = var.container_name
  storage_account_id    = azurerm_storage_account.backups.id
  container_access_type = "private"
}
