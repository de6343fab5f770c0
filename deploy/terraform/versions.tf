terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.20"
    }
  }
}

provider "azurerm" {
  features {}
  # The account allows Entra ID only (no shared keys), so Terraform manages the container with Entra ID too.
  storage_use_azuread = true
}
