output "storage_account_url" {
  description = "AZURE_STORAGE_ACCOUNT_URL (deploy/k8s/overlays/aks/azure.env)."
  value       = azurerm_storage_account.backups.primary_blob_endpoint
}

output "servicebus_namespace" {
  description = "AZURE_SERVICEBUS_NAMESPACE (deploy/k8s/overlays/aks/azure.env)."
  value       = "${azurerm_servicebus_namespace.events.name}.servicebus.windows.net"
}

output "client_ids" {
  description = "azure.workload.identity/client-id per service account (deploy/k8s/overlays/aks/workload-identities.yaml)."
  value       = { for name, identity in azurerm_user_assigned_identity.service : "tidemark-${name}" => identity.client_id }
}
