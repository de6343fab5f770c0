variable "resource_group_name" {
  description = "Existing resource group for the Tidemark resources."
  type        = string
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of resource names (lowercase letters and digits)."
  type        = string
  default     = "tidemark"
  validation {
    condition     = can(regex("^[a-z0-9]{3,12}$", var.name_prefix))
    error_message = "name_prefix must be 3-12 lowercase letters or digits (storage account names allow nothing else)."
  }
}

variable "aks_oidc_issuer_url" {
  description = "OIDC issuer URL of the AKS cluster (az aks show --query oidcIssuerProfile.issuerUrl)."
  type        = string
}

variable "kubernetes_namespace" {
  description = "Namespace the services run in (deploy/k8s sets tidemark)."
  type        = string
  default     = "tidemark"
}

variable "container_name" {
  description = "Blob container of the backups (storage.container in tidemark.yaml)."
  type        = string
  default     = "tidemark-backups"
}

variable "soft_delete_days" {
  description = "Days deleted blobs, versions and containers stay recoverable."
  type        = number
  default     = 14
}

variable "version_level_immutability" {
  description = "Create the account with version-level immutability support, needed by storage.immutability in tidemark.yaml. Only takes effect when the account is created: turning it on later replaces the account."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
